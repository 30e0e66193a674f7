#include "cpython/stack_scan.h"

#include <algorithm>
#include <string>

namespace triage::cpython {

namespace {

// Deep enough for a collector several Python calls below a __del__ that blocks, small enough to
// stay far under a millisecond per thread.
constexpr size_t kMaxScanBytes = 512 * 1024;
constexpr size_t kChunk = 16 * 1024;

bool inAny(const StackScanner::Ranges& ranges, uint64_t addr) {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), addr,
                               [](uint64_t a, const auto& r) { return a < r.first; });
    return it != ranges.begin() && addr < (it - 1)->second;
}

}  // namespace

const std::vector<std::string> kTakeGilFunctions = {"take_gil"};
const std::vector<std::string> kDropGilFunctions = {"drop_gil"};
// Every function that runs a collection, from the entry points (PyGC_Collect, gc.collect's
// gc_collect_impl) to the collector proper, as named in 2.7 to 3.13.
const std::vector<std::string> kCollectorFunctions = {
    "collect",           "collect_with_callback",    "collect_generations",
    "gc_collect_main",   "gc_collect_with_callback", "gc_collect_generations",
    "gc_collect_region", "gc_collect_impl",          "_PyGC_Collect",
    "PyGC_Collect"};

StackScanner::StackScanner(const Memory& memory, Ranges interpreter_text, Ranges take_gil,
                           Ranges drop_gil, Ranges collector)
    : mem_(memory),
      text_(std::move(interpreter_text)),
      take_gil_(std::move(take_gil)),
      drop_gil_(std::move(drop_gil)),
      collector_(std::move(collector)) {
    for (Ranges* r : {&text_, &take_gil_, &drop_gil_, &collector_}) std::sort(r->begin(), r->end());
}

// A return address follows a call instruction; data that happens to point into the code
// usually does not. The x86-64 forms: E8 rel32, and FF /2 with its register, [reg], disp8,
// disp32, RIP-relative and SIB addressing forms.
bool StackScanner::followsCall(uint64_t addr) const {
#if defined(__x86_64__)
    unsigned char b[7];
    if (addr < sizeof b || !mem_.read(addr - sizeof b, b, sizeof b)) return false;
    auto at = [&](int back) { return b[sizeof b - back]; };
    if (at(5) == 0xE8) return true;
    if (at(2) == 0xFF && (at(1) & 0xF8) == 0xD0) return true;                     // call reg
    if (at(3) == 0xFF && ((at(2) & 0xF8) == 0x50 || at(2) == 0x14)) return true;  // disp8, SIB
    if (at(4) == 0xFF && at(3) == 0x54) return true;                              // SIB disp8
    if (at(6) == 0xFF && (at(5) == 0x15 || (at(5) & 0xF8) == 0x90)) return true;  // disp32, RIP
    if (at(7) == 0xFF && at(6) == 0x94) return true;                              // SIB disp32
    return false;
#else
    (void)addr;
    return true;
#endif
}

bool StackScanner::inCollector(uint64_t pc) const {
    return inAny(collector_, pc);
}

StackActivity StackScanner::scan(uint64_t sp) const {
    StackActivity activity;
    if (sp == 0) return activity;
    std::vector<uint64_t> words(kChunk / 8);
    bool innermost_seen = false;
    for (size_t done = 0; done < kMaxScanBytes; done += kChunk) {
        size_t got = mem_.readSome((sp & ~uint64_t{7}) + done, words.data(), kChunk) / 8;
        for (size_t i = 0; i < got; ++i) {
            uint64_t w = words[i];
            if (!innermost_seen && inAny(text_, w) && followsCall(w)) {
                innermost_seen = true;
                activity.in_take_gil = inAny(take_gil_, w);
                activity.in_drop_gil = inAny(drop_gil_, w);
            }
            activity.collector_on_stack |= inAny(collector_, w);
        }
        if (got * 8 < kChunk) break;
    }
    return activity;
}

}  // namespace triage::cpython
