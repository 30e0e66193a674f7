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
const std::vector<std::string> kCollectorFunctions = {
    "collect",          "collect_with_callback",    "collect_generations",
    "gc_collect_main",  "gc_collect_with_callback", "gc_collect_generations",
    "gc_collect_region"};

StackScanner::StackScanner(const Memory& memory, Ranges interpreter_text, Ranges take_gil,
                           Ranges drop_gil, Ranges collector)
    : mem_(memory),
      text_(std::move(interpreter_text)),
      take_gil_(std::move(take_gil)),
      drop_gil_(std::move(drop_gil)),
      collector_(std::move(collector)) {
    for (Ranges* r : {&text_, &take_gil_, &drop_gil_, &collector_}) std::sort(r->begin(), r->end());
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
            if (!innermost_seen && inAny(text_, w)) {
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
