// Reading Python objects out of the target's memory without running any code: type checks
// through tp_flags, and str/bytes contents decoded into UTF-8. Every size is capped.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cpython/layout.h"
#include "memory.h"

namespace triage::cpython {

// tp_flags bits that say which builtin a type derives from (same values in 2.7 and 3.x).
constexpr uint64_t kIntSubclass2 = 1ull << 23;  // 2.7 int
constexpr uint64_t kLongSubclass = 1ull << 24;
constexpr uint64_t kListSubclass = 1ull << 25;
constexpr uint64_t kTupleSubclass = 1ull << 26;
constexpr uint64_t kBytesSubclass = 1ull << 27;  // 2.7: str
constexpr uint64_t kUnicodeSubclass = 1ull << 28;
constexpr uint64_t kDictSubclass = 1ull << 29;

// How a walk over a table ended.
enum class TableWalk {
    Done,       // every slot was looked at
    Truncated,  // stopped early: the slot limit, or the visitor asked to
    Failed,     // the table is unreadable or implausible
};

// Called with each live (key, value) pair; returns false to stop the walk.
using ItemVisitor = std::function<bool(uint64_t key, uint64_t value)>;

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
    // Whether `obj` is a text string equal to `want` (ASCII). One read for the usual compact
    // ASCII str (2.7: any str): cheap enough to compare every key of a big dict.
    bool textEquals(uint64_t obj, std::string_view want) const;
    // The value of a non-negative int (2.7 int or long, 3.x int) that fits in 64 bits.
    std::optional<uint64_t> readUnsigned(uint64_t obj) const;

    // The (key, value) pairs of a dict, in table order, looking at `max_slots` slots (2.7) or
    // entries (3.6+) at most. Pairs with a NULL key or value (deleted, unset) are skipped.
    TableWalk dictItems(uint64_t dict, uint64_t max_slots, const ItemVisitor& visit) const;
    // The same over a 3.6+ PyDictKeysObject, its values beside the entries (values 0) or in a
    // split values array (3.11+ managed dicts keep theirs outside any dict object).
    TableWalk keysItems(uint64_t keys, uint64_t values, uint64_t max_entries,
                        const ItemVisitor& visit) const;
    // Where the str key `name` is among the first `max_entries` entries of a 3.6+
    // PyDictKeysObject (its index in a split values array), nullopt when absent or unreadable.
    std::optional<uint64_t> keyIndex(uint64_t keys, std::string_view name,
                                     uint64_t max_entries) const;

  private:
    struct KeysTable {
        uint64_t nentries = 0, entries_at = 0, entry_size = 24, key_off = 8;
    };
    bool keysTable(uint64_t keys, KeysTable* out) const;
    std::optional<std::string> readUnicode(uint64_t obj, size_t max_chars) const;
    bool hasFlag(uint64_t obj, uint64_t flag) const;

    const Memory& mem_;
    const Layout& layout_;
    mutable std::unordered_map<uint64_t, uint64_t> flags_cache_;
    mutable std::unordered_map<uint64_t, std::string> name_cache_;
};

}  // namespace triage::cpython
