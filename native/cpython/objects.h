// Reading Python objects out of the target's memory without running any code: type checks
// through tp_flags, and str/bytes contents decoded into UTF-8. Every size is capped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "cpython/layout.h"
#include "memory.h"

namespace triage::cpython {

// tp_flags bits that say which builtin a type derives from (same values in 2.7 and 3.x).
constexpr uint64_t kTupleSubclass = 1ull << 26;
constexpr uint64_t kBytesSubclass = 1ull << 27;  // 2.7: str
constexpr uint64_t kUnicodeSubclass = 1ull << 28;

class ObjectReader {
  public:
    ObjectReader(const Memory& memory, const Layout& layout) : mem_(memory), layout_(layout) {}

    // The type object of `obj`, 0 when unreadable.
    uint64_t typeOf(uint64_t obj) const;
    // tp_flags of a type object (cached per type), nullopt when unreadable.
    std::optional<uint64_t> typeFlags(uint64_t type) const;
    // tp_name of a type object (cached per type), empty when unreadable.
    const std::string& typeName(uint64_t type) const;

    // A text string (3.x str, 2.x str): its characters as UTF-8, at most `max_chars` of them.
    std::optional<std::string> readText(uint64_t obj, size_t max_chars) const;
    // Raw contents of a bytes object (2.x str), at most `max_len` bytes.
    std::optional<std::string> readBytes(uint64_t obj, size_t max_len) const;

  private:
    std::optional<std::string> readUnicode(uint64_t obj, size_t max_chars) const;
    bool hasFlag(uint64_t obj, uint64_t flag) const;

    const Memory& mem_;
    const Layout& layout_;
    mutable std::unordered_map<uint64_t, uint64_t> flags_cache_;
    mutable std::unordered_map<uint64_t, std::string> name_cache_;
};

}  // namespace triage::cpython
