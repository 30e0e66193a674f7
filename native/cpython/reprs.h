// repr()-like text of objects in the target's memory, built without running any code. Bounded:
// element counts, nesting depth and string lengths are capped with "...", cycles end.
#pragma once

#include <cstdint>
#include <string>

#include "cpython/layout.h"
#include "cpython/objects.h"
#include "memory.h"

namespace triage::cpython {

struct ReprLimits {
    size_t max_chars = 120;  // of the whole repr
    size_t max_items = 16;   // per container
    int max_depth = 3;       // nested containers
};

class ReprBuilder {
  public:
    ReprBuilder(const Memory& memory, const Layout& layout, const ObjectReader& objects,
                ReprLimits limits = {})
        : mem_(memory), layout_(layout), objects_(objects), limits_(limits) {}

    std::string repr(uint64_t obj) const;

  private:
    void append(uint64_t obj, int depth, std::string* out) const;
    void appendStr(uint64_t obj, std::string* out) const;
    void appendBytes(uint64_t obj, std::string* out) const;
    bool appendInt(uint64_t obj, std::string* out) const;
    void appendFloat(uint64_t obj, std::string* out) const;
    void appendSequence(uint64_t obj, bool tuple, int depth, std::string* out) const;
    void appendDict(uint64_t obj, int depth, std::string* out) const;
    void appendSet(uint64_t obj, bool frozen, int depth, std::string* out) const;
    bool full(const std::string& out) const { return out.size() >= limits_.max_chars; }

    const Memory& mem_;
    const Layout& layout_;
    const ObjectReader& objects_;
    ReprLimits limits_;
};

// Python's repr of a float: the shortest text that reads back as the same double.
std::string floatRepr(double value);
// Python's repr of a str, quotes included, from its UTF-8 text.
std::string quoteText(const std::string& utf8, size_t max_chars);

}  // namespace triage::cpython
