#include "cpython/objects.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "utf8.h"

namespace triage::cpython {

namespace {

constexpr size_t kMaxTypeName = 256;
constexpr uint64_t kMaxTableSlots = 1 << 22;  // larger: a corrupted size, not a table
// PyDictKeysObject of each format (the layout says which one a version has): its header's
// fields and where the index table starts, which the entries follow.
constexpr int64_t kKeys36Size = 8, kKeys36Entries = 32, kKeys36Indices = 40;
constexpr int64_t kKeys311Log2Size = 8, kKeys311Entries = 24, kKeys311Indices = 32;
// Slots read at once: a big table costs a few large reads, not one read per slot.
constexpr uint64_t kChunkSlots = 64;
constexpr size_t kMaxCompare = 256;  // longest text textEquals compares

}  // namespace

uint64_t ObjectReader::typeOf(uint64_t obj) const {
    uint64_t type = 0;
    if (obj == 0 || !mem_.readPointer(obj + layout_.ob_type, &type)) return 0;
    return type;
}

std::optional<uint64_t> ObjectReader::typeFlags(uint64_t type) const {
    if (type == 0) return std::nullopt;
    auto it = flags_cache_.find(type);
    if (it != flags_cache_.end()) return it->second;
    uint64_t flags = 0;
    if (!mem_.readValue(type + layout_.tp_flags, &flags)) return std::nullopt;
    flags_cache_.emplace(type, flags);
    return flags;
}

const std::string& ObjectReader::typeName(uint64_t type) const {
    auto it = name_cache_.find(type);
    if (it != name_cache_.end()) return it->second;
    std::string name;
    uint64_t name_ptr = 0;
    if (type != 0 && mem_.readPointer(type + layout_.tp_name, &name_ptr)) {
        if (!mem_.readCString(name_ptr, kMaxTypeName, &name)) name.clear();
    }
    return name_cache_.emplace(type, sanitizeUtf8(name)).first->second;
}

bool ObjectReader::hasFlag(uint64_t obj, uint64_t flag) const {
    auto flags = typeFlags(typeOf(obj));
    return flags && (*flags & flag) != 0;
}

std::optional<std::string> ObjectReader::readText(uint64_t obj, size_t max_chars) const {
    if (layout_.text_is_bytes) {
        auto raw = readBytes(obj, max_chars);
        if (!raw) return std::nullopt;
        return sanitizeUtf8(*raw);
    }
    if (!hasFlag(obj, kUnicodeSubclass)) return std::nullopt;
    return readUnicode(obj, max_chars);
}

std::optional<std::string> ObjectReader::readBytes(uint64_t obj, size_t max_len) const {
    if (!hasFlag(obj, kBytesSubclass)) return std::nullopt;
    int64_t size = 0;
    if (!mem_.readValue(obj + layout_.ob_size, &size) || size < 0) return std::nullopt;
    std::string out(std::min<uint64_t>(static_cast<uint64_t>(size), max_len), '\0');
    if (!mem_.read(obj + layout_.bytes_data, out.data(), out.size())) return std::nullopt;
    return out;
}

bool ObjectReader::textEquals(uint64_t obj, std::string_view want) const {
    if (obj == 0 || want.size() > kMaxCompare) return false;
    // The header and the characters of a compact ASCII str (2.7: of any str) in one read.
    int64_t data = layout_.text_is_bytes ? layout_.bytes_data : layout_.unicode_ascii_size;
    unsigned char buf[512];
    size_t want_bytes = static_cast<size_t>(data) + want.size();
    if (want_bytes > sizeof buf || mem_.readSome(obj, buf, want_bytes) != want_bytes) return false;
    uint64_t type = 0;
    int64_t length = 0;
    std::memcpy(&type, buf + layout_.ob_type, 8);
    std::memcpy(&length, buf + layout_.ob_size, 8);
    auto flags = typeFlags(type);
    if (!flags || length != static_cast<int64_t>(want.size())) return false;
    if (layout_.text_is_bytes) {
        if ((*flags & kBytesSubclass) == 0) return false;
    } else {
        uint32_t state = 0;
        std::memcpy(&state, buf + layout_.unicode_state, 4);
        if ((*flags & kUnicodeSubclass) == 0) return false;
        bool compact_ascii = ((state >> 5) & 1) && ((state >> 6) & 1);
        // Anything but compact ASCII (legacy strings, wider kinds) takes the general path.
        if (!compact_ascii) return readUnicode(obj, want.size()) == std::string(want);
    }
    return std::memcmp(buf + data, want.data(), want.size()) == 0;
}

std::optional<uint64_t> ObjectReader::readUnsigned(uint64_t obj) const {
    // The header and up to three 30-bit digits (2.7 int: ob_ival) in one read.
    unsigned char buf[64];
    int64_t digits_at = layout_.long_digits;
    if (obj == 0 || digits_at + 12 > static_cast<int64_t>(sizeof buf) ||
        layout_.scalar_value + 8 > static_cast<int64_t>(sizeof buf))
        return std::nullopt;
    size_t got = mem_.readSome(obj, buf, static_cast<size_t>(digits_at + 12));
    if (got < static_cast<size_t>(std::max(layout_.ob_size, layout_.scalar_value) + 8))
        return std::nullopt;
    uint64_t type = 0;
    std::memcpy(&type, buf + layout_.ob_type, 8);
    auto flags = typeFlags(type);
    if (!flags) return std::nullopt;
    if (layout_.text_is_bytes && (*flags & kIntSubclass2)) {
        int64_t v = 0;
        std::memcpy(&v, buf + layout_.scalar_value, 8);
        if (v < 0) return std::nullopt;
        return static_cast<uint64_t>(v);
    }
    if ((*flags & kLongSubclass) == 0) return std::nullopt;
    int64_t size_field = 0;
    std::memcpy(&size_field, buf + layout_.ob_size, 8);
    uint64_t ndigits = 0;
    if (layout_.long_tag) {
        // 3.12+ lv_tag: digit count << 3 | sign (0 positive, 1 zero, 2 negative).
        auto tag = static_cast<uint64_t>(size_field);
        if ((tag & 3) == 2) return std::nullopt;
        ndigits = tag >> 3;
    } else {
        if (size_field < 0) return std::nullopt;
        ndigits = static_cast<uint64_t>(size_field);
    }
    // 64 bits take at most three digits, the third holding 4 bits.
    uint32_t digits[3] = {0, 0, 0};
    if (ndigits > 3 || got < static_cast<size_t>(digits_at) + ndigits * 4) return std::nullopt;
    std::memcpy(digits, buf + digits_at, ndigits * 4);
    for (auto& d : digits) d &= (1u << 30) - 1;
    if (ndigits == 3 && digits[2] >= 16) return std::nullopt;
    return uint64_t{digits[0]} | (uint64_t{digits[1]} << 30) | (uint64_t{digits[2]} << 60);
}

TableWalk ObjectReader::dictItems(uint64_t dict, uint64_t max_slots,
                                  const ItemVisitor& visit) const {
    if (layout_.dict_format != DictFormat::OpenAddressing27) {
        // 3.6+: ma_keys holds an index table then the entries in insertion order; split tables
        // keep the values apart, in ma_values.
        uint64_t keys = 0, values = 0;
        if (dict == 0 || !mem_.readPointer(dict + layout_.dict_keys, &keys) ||
            !mem_.readPointer(dict + layout_.dict_values, &values) || keys == 0)
            return TableWalk::Failed;
        return keysItems(keys, values, max_slots, visit);
    }
    // 2.7: open addressing over ma_mask + 1 slots of {hash, key, value}.
    uint64_t mask = 0, table = 0;
    if (dict == 0 || !mem_.readValue(dict + layout_.dict_keys, &mask) ||
        !mem_.readPointer(dict + layout_.dict_values, &table) || mask >= kMaxTableSlots)
        return TableWalk::Failed;
    uint64_t scan = std::min(mask + 1, max_slots);
    uint64_t slots[kChunkSlots * 3];
    for (uint64_t at = 0; at < scan; at += kChunkSlots) {
        uint64_t count = std::min(kChunkSlots, scan - at);
        if (!mem_.read(table + at * 24, slots, count * 24)) return TableWalk::Failed;
        for (uint64_t i = 0; i < count; ++i) {
            uint64_t key = slots[i * 3 + 1], value = slots[i * 3 + 2];
            if (key != 0 && value != 0 && !visit(key, value)) return TableWalk::Truncated;
        }
    }
    return scan < mask + 1 ? TableWalk::Truncated : TableWalk::Done;
}

// Where the entries of a 3.6+ PyDictKeysObject are, how many there are and how they look.
bool ObjectReader::keysTable(uint64_t keys, KeysTable* out) const {
    if (keys == 0) return false;
    if (layout_.dict_format == DictFormat::Keys311) {
        uint8_t hdr[3];
        if (!mem_.read(keys + kKeys311Log2Size, hdr, 3) ||
            !mem_.readValue(keys + kKeys311Entries, &out->nentries))
            return false;
        out->entries_at = keys + kKeys311Indices + (uint64_t{1} << (hdr[1] & 63));
        if (hdr[2] != 0) out->entry_size = 16, out->key_off = 0;  // unicode keys: no hash
    } else {
        uint64_t size = 0;
        if (!mem_.readValue(keys + kKeys36Size, &size) ||
            !mem_.readValue(keys + kKeys36Entries, &out->nentries) || size > kMaxTableSlots)
            return false;
        uint64_t width = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffff ? 4 : 8;
        out->entries_at = keys + kKeys36Indices + size * width;
    }
    return out->nentries <= kMaxTableSlots;
}

std::optional<uint64_t> ObjectReader::keyIndex(uint64_t keys, std::string_view name,
                                               uint64_t max_entries) const {
    KeysTable table;
    if (!keysTable(keys, &table)) return std::nullopt;
    uint64_t scan = std::min(table.nentries, max_entries);
    unsigned char raw[kChunkSlots * 24];
    for (uint64_t at = 0; at < scan; at += kChunkSlots) {
        uint64_t count = std::min(kChunkSlots, scan - at);
        if (!mem_.read(table.entries_at + at * table.entry_size, raw, count * table.entry_size))
            return std::nullopt;
        for (uint64_t i = 0; i < count; ++i) {
            uint64_t key = 0;
            std::memcpy(&key, raw + i * table.entry_size + table.key_off, 8);
            if (key != 0 && textEquals(key, name)) return at + i;
        }
    }
    return std::nullopt;
}

TableWalk ObjectReader::keysItems(uint64_t keys, uint64_t values, uint64_t max_entries,
                                  const ItemVisitor& visit) const {
    KeysTable table;
    if (!keysTable(keys, &table)) return TableWalk::Failed;
    uint64_t nentries = table.nentries, entries_at = table.entries_at;
    uint64_t entry_size = table.entry_size, key_off = table.key_off;
    uint64_t values_at = values + layout_.dict_values_header;
    uint64_t scan = std::min(nentries, max_entries);
    uint64_t raw[kChunkSlots * 3];
    uint64_t split[kChunkSlots];
    for (uint64_t at = 0; at < scan; at += kChunkSlots) {
        uint64_t count = std::min(kChunkSlots, scan - at);
        if (!mem_.read(entries_at + at * entry_size, raw, count * entry_size) ||
            (values != 0 && !mem_.read(values_at + at * 8, split, count * 8)))
            return TableWalk::Failed;
        for (uint64_t i = 0; i < count; ++i) {
            uint64_t key = 0, value = 0;
            std::memcpy(&key, reinterpret_cast<unsigned char*>(raw) + i * entry_size + key_off, 8);
            std::memcpy(&value,
                        reinterpret_cast<unsigned char*>(raw) + i * entry_size + key_off + 8, 8);
            if (values != 0) value = split[i];
            if (key != 0 && value != 0 && !visit(key, value)) return TableWalk::Truncated;
        }
    }
    return scan < nentries ? TableWalk::Truncated : TableWalk::Done;
}

// PEP 393 strings: compact ASCII data follows PyASCIIObject, other compact strings follow
// PyCompactUnicodeObject, and legacy (non-compact) strings point to their data. Characters are
// 1 (Latin-1), 2 (UCS-2) or 4 (UCS-4) bytes wide.
std::optional<std::string> ObjectReader::readUnicode(uint64_t obj, size_t max_chars) const {
    int64_t length = 0;
    uint32_t state = 0;
    if (!mem_.readValue(obj + layout_.ob_size, &length) || length < 0 ||
        !mem_.readValue(obj + layout_.unicode_state, &state))
        return std::nullopt;
    unsigned kind = (state >> 2) & 7;
    bool compact = (state >> 5) & 1;
    bool ascii = (state >> 6) & 1;
    if (kind != 1 && kind != 2 && kind != 4) return std::nullopt;
    uint64_t data = 0;
    if (compact) {
        data = obj + (ascii ? layout_.unicode_ascii_size : layout_.unicode_compact_size);
    } else if (!mem_.readPointer(obj + layout_.unicode_compact_size, &data) || data == 0) {
        return std::nullopt;
    }
    size_t count =
        static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(length), max_chars));
    std::vector<unsigned char> raw(count * kind);
    if (!mem_.read(data, raw.data(), raw.size())) return std::nullopt;
    std::string out;
    out.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        uint32_t cp = 0;
        if (kind == 1) {
            cp = raw[i];
        } else if (kind == 2) {
            uint16_t u;
            std::memcpy(&u, &raw[i * 2], 2);
            cp = u;
        } else {
            std::memcpy(&cp, &raw[i * 4], 4);
        }
        appendCodePoint(&out, cp);
    }
    return out;
}

}  // namespace triage::cpython
