// The names the `threading` module gave to threads (Thread.name: "MainThread", "Thread-3
// (worker)", a name the program chose), read from the target's memory without running code.
//
// threading keeps every started thread in its module dict's `_active`: thread ident (a Python
// int, the pthread_t that the thread state also records as thread_id) → Thread object, whose
// name is an instance attribute. The walk is: the interpreter's modules dict → "threading" →
// its module dict → "_active" → for each key that is a thread we walk, the Thread's instance
// attributes → the name attribute (the layout says which, and how instances keep attributes).
//
// Costs: one pass over sys.modules (one read per key, a few large reads for the table), one
// over `_active`, then about ten reads per thread (its ident, its type, its attributes through
// the class's shared keys, looked up once per class, and the name). Everything is bounded; a
// corrupted table, a missing module or a name that is not a str gives no name, never a crash or a
// long walk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analysis.h"
#include "cpython/layout.h"
#include "cpython/objects.h"
#include "memory.h"

namespace triage::cpython {

class ThreadNameReader {
  public:
    ThreadNameReader(const Memory& memory, const Layout& layout, const ObjectReader& objects)
        : mem_(memory), layout_(layout), objects_(objects) {}

    // ident (pthread_t) → threading name, for the idents in `wanted` that `_active` of this
    // interpreter knows. A table that cannot be read adds one warning; an interpreter that
    // never imported threading has no names and no warning.
    std::unordered_map<uint64_t, std::string> names(uint64_t interp,
                                                    const std::unordered_set<uint64_t>& wanted,
                                                    std::vector<std::string>* warnings) const;

  private:
    // The value stored under the str key `name` in a dict, 0 when absent or unreadable.
    uint64_t lookup(uint64_t dict, const char* name, uint64_t max_slots, bool* failed) const;
    // The value of the attribute `name` of a plain Python object, 0 when it has none.
    uint64_t attribute(uint64_t obj, const char* name) const;
    // The same in an instance dict: split tables (3.6+) go through the shared keys.
    uint64_t inDict(uint64_t dict, const char* name) const;
    // The value of `name` in split values whose keys are `keys`.
    uint64_t splitValue(uint64_t keys, uint64_t values, const char* name) const;

    const Memory& mem_;
    const Layout& layout_;
    const ObjectReader& objects_;
    // Per shared keys object: the index of the name attribute; per type: its cached keys.
    mutable std::unordered_map<uint64_t, std::optional<uint64_t>> key_index_;
    mutable std::unordered_map<uint64_t, uint64_t> cached_keys_;
};

// Gives each thread its threading name, interpreter by interpreter (each has its own threading
// module). A pass of its own, after the walk: a live process is already running again by then
// (a name read a moment late is still the thread's name; the stall stays short).
void nameThreads(const Memory& memory, const Layout& layout, std::vector<PyThreadInfo>* threads,
                 std::vector<std::string>* warnings);

}  // namespace triage::cpython
