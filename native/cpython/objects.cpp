#include "cpython/objects.h"

#include <cstring>
#include <vector>

#include "utf8.h"

namespace triage::cpython {

namespace {

constexpr size_t kMaxTypeName = 256;

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
