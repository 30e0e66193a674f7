#include "cpython/stack_scan.h"

#include <algorithm>
#include <string>

namespace triage::cpython {

namespace {

// Deep enough for a collector several Python calls below a __del__ that blocks, small enough to
// stay far under a millisecond per thread.
constexpr size_t kMaxScanBytes = 512 * 1024;
constexpr size_t kChunk = 16 * 1024;
// How many of the innermost interpreter return addresses may hint at a GIL call: libc's wait
// frames can hold a stale interpreter address or two above take_gil's own. A wrong hint only
// costs an unwind.
constexpr int kHintDepth = 3;

// Most stack words are data, far from any code range: they are turned away before the search.
bool inAny(const StackScanner::Ranges& ranges, uint64_t addr) {
    if (ranges.empty() || addr < ranges.front().first || addr >= ranges.back().second) {
        return false;
    }
    auto it = std::upper_bound(ranges.begin(), ranges.end(), addr,
                               [](uint64_t a, const auto& r) { return a < r.first; });
    return it != ranges.begin() && addr < (it - 1)->second;
}

}  // namespace

const std::vector<std::string> kTakeGilFunctions = {"take_gil"};
const std::vector<std::string> kDropGilFunctions = {"drop_gil"};
// The collector proper, as named in 2.7 to 3.13 (static functions: no symbol on a stripped
// build, where it is found through its exported caller instead).
const std::vector<std::string> kCollectorFunctions = {
    "collect",          "collect_with_callback",    "collect_generations",
    "gc_collect_main",  "gc_collect_with_callback", "gc_collect_generations",
    "gc_collect_region"};
// Entry points that run a collection (gc.collect's gc_collect_impl, the C API): a thread inside
// one of them collects too.
const std::vector<std::string> kCollectorEntryPoints = {"gc_collect_impl", "_PyGC_Collect",
                                                        "PyGC_Collect"};
const std::vector<std::string> kLockAcquireFunctions = {"PyThread_acquire_lock"};
// 2.7's callers of PyThread_acquire_lock(interpreter_lock, 1): re-taking the GIL after a
// blocking call, and the eval loop's periodic switch.
const std::vector<std::string> kGilAcquirerFunctions = {
    "PyEval_RestoreThread", "PyEval_AcquireThread", "PyEval_AcquireLock", "PyEval_EvalFrameEx"};
const std::vector<std::string> kCollectorCallers = {"PyGC_Collect"};

StackScanner::StackScanner(const Memory& memory, Functions functions)
    : mem_(memory), f_(std::move(functions)) {
    for (Ranges* r : {&f_.interpreter_text, &f_.take_gil, &f_.drop_gil, &f_.collector,
                      &f_.lock_acquire, &f_.gil_acquirers, &f_.wait_code})
        std::sort(r->begin(), r->end());
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
    return inAny(f_.collector, pc);
}

StackActivity StackScanner::scan(uint64_t sp) const {
    StackActivity activity;
    if (sp == 0) return activity;
    std::vector<uint64_t> words(kChunk / 8);
    int hints = 0;
    for (size_t done = 0; done < kMaxScanBytes; done += kChunk) {
        size_t got = mem_.readSome((sp & ~uint64_t{7}) + done, words.data(), kChunk) / 8;
        for (size_t i = 0; i < got; ++i) {
            uint64_t w = words[i];
            if (hints < kHintDepth && inAny(f_.interpreter_text, w) && followsCall(w)) {
                ++hints;
                activity.in_take_gil |= inAny(f_.take_gil, w) || inAny(f_.lock_acquire, w);
                activity.in_drop_gil |= inAny(f_.drop_gil, w);
            }
            activity.collector_on_stack |= inAny(f_.collector, w);
        }
        if (got * 8 < kChunk) break;
    }
    return activity;
}

StackActivity StackScanner::confirm(const Pcs& pcs) const {
    StackActivity activity;
    // A return address points after its call: the call itself is one byte before.
    auto at = [&](size_t i) { return pcs[i].second ? pcs[i].first : pcs[i].first - 1; };
    for (size_t i = 0; i < pcs.size(); ++i) {
        uint64_t pc = at(i);
        if (inAny(f_.interpreter_text, pc)) {
            activity.in_take_gil = inAny(f_.take_gil, pc);
            activity.in_drop_gil = inAny(f_.drop_gil, pc);
            if (inAny(f_.lock_acquire, pc)) {
                // Only the GIL's own acquisition, known by the caller (the next frame).
                activity.in_take_gil = i + 1 < pcs.size() && inAny(f_.gil_acquirers, at(i + 1));
            }
            return activity;
        }
        // Below the interpreter's innermost frame only the wait itself may run: any other
        // library (a foreign call, BLAS, a parser) means the thread left the GIL to it.
        if (!inAny(f_.wait_code, pc)) return activity;
    }
    return activity;
}

}  // namespace triage::cpython
