#include "cpython/reprs.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "utf8.h"

namespace triage::cpython {

namespace {

constexpr size_t kMaxIntDigits = 1000;        // 30-bit digits: about 9,000 decimal digits
constexpr uint64_t kMaxTableSlots = 1 << 22;  // larger: a corrupted size, not a table
// Slots or entries looked at per dict or set: only max_items of them are shown anyway, so a
// huge (or corrupted) table costs one bounded read.
constexpr uint64_t kScanSlots = 4096;

std::string hexAddr(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

// Decodes the next code point of valid UTF-8 (as produced by ObjectReader).
uint32_t nextCodePoint(const std::string& s, size_t* i) {
    auto b = static_cast<unsigned char>(s[*i]);
    int extra = b < 0x80 ? 0 : b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
    uint32_t cp = extra == 0 ? b : b & (0x3F >> extra);
    for (int k = 1; k <= extra && *i + k < s.size(); ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
    *i += extra + 1;
    return cp;
}

void appendEscaped(uint32_t cp, char quote, std::string* out) {
    char buf[16];
    if (cp == '\\' || cp == static_cast<uint32_t>(quote)) {
        out->push_back('\\');
        out->push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
        out->append("\\n");
    } else if (cp == '\r') {
        out->append("\\r");
    } else if (cp == '\t') {
        out->append("\\t");
    } else if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
        std::snprintf(buf, sizeof buf, "\\x%02x", cp);
        out->append(buf);
    } else {
        appendCodePoint(out, cp);
    }
}

// Decimal digits of a magnitude stored as base-2^30 digits (least significant first).
std::string decimal(std::vector<uint32_t> digits) {
    std::string out;
    while (!digits.empty()) {
        uint64_t rem = 0;
        for (size_t i = digits.size(); i-- > 0;) {
            uint64_t cur = (rem << 30) | digits[i];
            digits[i] = static_cast<uint32_t>(cur / 1000000000);
            rem = cur % 1000000000;
        }
        while (!digits.empty() && digits.back() == 0) digits.pop_back();
        char chunk[16];
        std::snprintf(chunk, sizeof chunk, digits.empty() ? "%llu" : "%09llu",
                      static_cast<unsigned long long>(rem));
        out.insert(0, chunk);
    }
    return out.empty() ? "0" : out;
}

}  // namespace

std::string floatRepr(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    char buf[64];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*e", precision - 1, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    // buf is "[-]d.ddde[+-]XX": split into sign, significant digits and exponent.
    std::string s(buf);
    std::string sign = s[0] == '-' ? "-" : "";
    if (!sign.empty()) s.erase(0, 1);
    size_t e = s.find('e');
    int exp = std::atoi(s.c_str() + e + 1);
    std::string digits;
    for (size_t i = 0; i < e; ++i)
        if (s[i] != '.') digits += s[i];
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    if (exp >= -4 && exp < 16) {
        std::string out;
        if (exp >= 0) {
            std::string ip = digits.substr(0, std::min<size_t>(digits.size(), exp + 1));
            ip.append(exp + 1 > static_cast<int>(ip.size()) ? exp + 1 - ip.size() : 0, '0');
            std::string fp =
                digits.size() > static_cast<size_t>(exp + 1) ? digits.substr(exp + 1) : "0";
            out = ip + "." + fp;
        } else {
            out = "0." + std::string(-exp - 1, '0') + digits;
        }
        return sign + out;
    }
    std::string mant = digits.substr(0, 1);
    if (digits.size() > 1) mant += "." + digits.substr(1);
    std::snprintf(buf, sizeof buf, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return sign + mant + buf;
}

std::string quoteText(const std::string& text, size_t max_chars) {
    char quote = '\'';
    if (text.find('\'') != std::string::npos && text.find('"') == std::string::npos) quote = '"';
    std::string out(1, quote);
    size_t i = 0, chars = 0;
    while (i < text.size()) {
        if (chars++ >= max_chars) {
            out.append("...");
            break;
        }
        appendEscaped(nextCodePoint(text, &i), quote, &out);
    }
    out.push_back(quote);
    return out;
}

std::string ReprBuilder::repr(uint64_t obj) const {
    std::string out;
    append(obj, 0, &out);
    if (out.size() > limits_.max_chars + 3) {
        // Cut on a character boundary, then say so.
        size_t cut = limits_.max_chars;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
        out.resize(cut);
        out.append("...");
    }
    return out;
}

void ReprBuilder::append(uint64_t obj, int depth, std::string* out) const {
    if (obj == 0) {
        out->append("<NULL>");
        return;
    }
    uint64_t type = objects_.typeOf(obj);
    auto flags = objects_.typeFlags(type);
    const std::string& name = objects_.typeName(type);
    if (!flags || name.empty()) {
        out->append("<invalid object at " + hexAddr(obj) + ">");
        return;
    }
    bool py2 = layout_.text_is_bytes;
    if (name == "NoneType") {
        out->append("None");
    } else if (name == "bool") {
        // 2.7 ob_ival, 3.x ob_size: 0 for False; 3.12+ lv_tag: digit count << 3, 0 for False.
        uint64_t v = 0;
        mem_.readValue(obj + layout_.scalar_value, &v);
        if (layout_.long_tag) v >>= 3;
        out->append(v != 0 ? "True" : "False");
    } else if (py2 && (*flags & kIntSubclass2)) {
        int64_t v = 0;
        if (!mem_.readValue(obj + layout_.scalar_value, &v))
            return out->append("<int at " + hexAddr(obj) + ">"), void();
        out->append(std::to_string(v));
    } else if (*flags & kLongSubclass) {
        if (!appendInt(obj, out)) out->append("<" + name + " at " + hexAddr(obj) + ">");
    } else if (name == "float") {
        appendFloat(obj, out);
    } else if (!py2 && (*flags & kUnicodeSubclass)) {
        appendStr(obj, out);
    } else if (*flags & kBytesSubclass) {
        appendBytes(obj, out);
    } else if (*flags & kTupleSubclass) {
        appendSequence(obj, true, depth, out);
    } else if (*flags & kListSubclass) {
        appendSequence(obj, false, depth, out);
    } else if (*flags & kDictSubclass) {
        appendDict(obj, depth, out);
    } else if (name == "set" || name == "frozenset") {
        appendSet(obj, name == "frozenset", depth, out);
    } else {
        out->append("<" + name + " at " + hexAddr(obj) + ">");
    }
}

void ReprBuilder::appendStr(uint64_t obj, std::string* out) const {
    auto text = objects_.readText(obj, limits_.max_chars + 1);
    if (!text) return out->append("<str at " + hexAddr(obj) + ">"), void();
    out->append(quoteText(*text, limits_.max_chars));
}

void ReprBuilder::appendBytes(uint64_t obj, std::string* out) const {
    auto raw = objects_.readBytes(obj, limits_.max_chars + 1);
    if (!raw) return out->append("<bytes at " + hexAddr(obj) + ">"), void();
    // Bytes print as ASCII with \x escapes, never as decoded text.
    char quote = '\'';
    if (raw->find('\'') != std::string::npos && raw->find('"') == std::string::npos) quote = '"';
    out->append(layout_.text_is_bytes ? "" : "b");
    out->push_back(quote);
    for (size_t i = 0; i < raw->size(); ++i) {
        if (i >= limits_.max_chars) {
            out->append("...");
            break;
        }
        auto b = static_cast<unsigned char>((*raw)[i]);
        if (b < 0x80) {
            appendEscaped(b, quote, out);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", b);
            out->append(buf);
        }
    }
    out->push_back(quote);
}

bool ReprBuilder::appendInt(uint64_t obj, std::string* out) const {
    int64_t size_field = 0;
    if (!mem_.readValue(obj + layout_.ob_size, &size_field)) return false;
    bool negative;
    uint64_t ndigits;
    if (layout_.long_tag) {
        // lv_tag: digit count << 3 | sign (0 positive, 1 zero, 2 negative).
        auto tag = static_cast<uint64_t>(size_field);
        ndigits = tag >> 3;
        negative = (tag & 3) == 2;
    } else {
        negative = size_field < 0;
        ndigits = static_cast<uint64_t>(negative ? -size_field : size_field);
    }
    if (ndigits > kMaxIntDigits) {
        out->append("<int of " + std::to_string(ndigits * 30) + " bits>");
        return true;
    }
    std::vector<uint32_t> digits(ndigits);
    if (!mem_.read(obj + layout_.long_digits, digits.data(), ndigits * 4)) return false;
    for (auto& d : digits) d &= (1u << 30) - 1;
    out->append((negative ? "-" : "") + decimal(std::move(digits)));
    if (layout_.text_is_bytes) out->push_back('L');  // 2.7 prints its long type this way
    return true;
}

void ReprBuilder::appendFloat(uint64_t obj, std::string* out) const {
    double v = 0;
    if (!mem_.readValue(obj + layout_.scalar_value, &v))
        return out->append("<float at " + hexAddr(obj) + ">"), void();
    out->append(floatRepr(v));
}

void ReprBuilder::appendSequence(uint64_t obj, bool tuple, int depth, std::string* out) const {
    const char* open = tuple ? "(" : "[";
    const char* close = tuple ? ")" : "]";
    int64_t size = 0;
    uint64_t items = obj + layout_.seq_items;
    if (!mem_.readValue(obj + layout_.ob_size, &size) || size < 0 ||
        (!tuple && !mem_.readPointer(obj + layout_.seq_items, &items))) {
        out->append(std::string("<") + (tuple ? "tuple" : "list") + " at " + hexAddr(obj) + ">");
        return;
    }
    if (depth >= limits_.max_depth && size > 0)
        return out->append(std::string(open) + "..." + close), void();
    size_t count = static_cast<size_t>(std::min<uint64_t>(size, limits_.max_items));
    std::vector<uint64_t> ptrs(count);
    if (!mem_.read(items, ptrs.data(), count * 8)) {
        out->append(std::string("<") + (tuple ? "tuple" : "list") + " at " + hexAddr(obj) + ">");
        return;
    }
    out->append(open);
    for (size_t i = 0; i < count; ++i) {
        if (i) out->append(", ");
        if (full(*out)) return out->append("..."), void();
        // A container that holds itself prints as Python does.
        if (ptrs[i] == obj)
            out->append(tuple ? "(...)" : "[...]");
        else
            append(ptrs[i], depth + 1, out);
    }
    if (static_cast<uint64_t>(size) > count) out->append(", ...");
    if (tuple && size == 1) out->push_back(',');
    out->append(close);
}

void ReprBuilder::appendDict(uint64_t obj, int depth, std::string* out) const {
    std::vector<std::pair<uint64_t, uint64_t>> entries;
    bool more = false;
    TableWalk walked = objects_.dictItems(obj, kScanSlots, [&](uint64_t key, uint64_t value) {
        if (entries.size() >= limits_.max_items) {
            more = true;
            return false;
        }
        entries.emplace_back(key, value);
        return true;
    });
    if (walked == TableWalk::Failed) return out->append("<dict at " + hexAddr(obj) + ">"), void();
    more = more || walked == TableWalk::Truncated;
    if (depth >= limits_.max_depth && !entries.empty()) return out->append("{...}"), void();
    out->append("{");
    for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out->append(", ");
        if (full(*out)) return out->append("...}"), void();
        append(entries[i].first, depth + 1, out);
        out->append(": ");
        if (entries[i].second == obj)
            out->append("{...}");
        else
            append(entries[i].second, depth + 1, out);
    }
    if (more) out->append(", ...");
    out->append("}");
}

void ReprBuilder::appendSet(uint64_t obj, bool frozen, int depth, std::string* out) const {
    uint64_t mask = 0, table = 0;
    if (!mem_.readValue(obj + layout_.set_mask, &mask) ||
        !mem_.readPointer(obj + layout_.set_table, &table) || mask >= kMaxTableSlots) {
        out->append(std::string("<") + (frozen ? "frozenset" : "set") + " at " + hexAddr(obj) +
                    ">");
        return;
    }
    uint64_t scan = std::min(mask + 1, kScanSlots);
    std::vector<uint64_t> slots(scan * 2);
    if (!mem_.read(table, slots.data(), slots.size() * 8)) {
        out->append(std::string("<") + (frozen ? "frozenset" : "set") + " at " + hexAddr(obj) +
                    ">");
        return;
    }
    std::vector<uint64_t> keys;
    bool more = scan < mask + 1;
    int key_index = layout_.set_entry_hash_first ? 1 : 0;
    for (uint64_t i = 0; i < scan; ++i) {
        uint64_t key = slots[i * 2 + key_index];
        // Deleted slots hold a "dummy" placeholder object.
        if (key == 0 || objects_.typeName(objects_.typeOf(key)).find("dummy") != std::string::npos)
            continue;
        if (keys.size() >= limits_.max_items) {
            more = true;
            break;
        }
        keys.push_back(key);
    }
    if (keys.empty()) return out->append(frozen ? "frozenset()" : "set()"), void();
    if (depth >= limits_.max_depth)
        return out->append(frozen ? "frozenset({...})" : "{...}"), void();
    out->append(frozen ? "frozenset({" : "{");
    for (size_t i = 0; i < keys.size(); ++i) {
        if (i) out->append(", ");
        if (full(*out)) break;
        append(keys[i], depth + 1, out);
    }
    if (more) out->append(", ...");
    out->append(frozen ? "})" : "}");
}

}  // namespace triage::cpython
