// Walks the interpreter's own bookkeeping: interpreters → thread states → frames → code objects,
// and returns plain structs. Iterative, bounded, cycle-safe: corrupted memory yields a partial
// answer plus warnings, never a crash or an endless loop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analysis.h"
#include "cpython/layout.h"
#include "cpython/objects.h"
#include "cpython/reprs.h"
#include "cpython/stack_scan.h"
#include "memory.h"

namespace triage::cpython {

// Addresses of the interpreter's globals, found by the caller through symbols or sections.
struct RuntimeAddresses {
    std::optional<uint64_t> runtime;          // _PyRuntime (3.7+)
    std::optional<uint64_t> interp_head;      // &interp_head (2.7, 3.6)
    std::optional<uint64_t> tstate_current;   // &_PyThreadState_Current (2.7, 3.6)
    std::optional<uint64_t> gc_collecting;    // &collecting in gcmodule.c (2.7, 3.6)
    std::optional<uint64_t> gil_locked;       // &gil_locked in ceval_gil.h (3.6)
    std::optional<uint64_t> gil_last_holder;  // &gil_last_holder in ceval_gil.h (3.6)
    // Where the interpreter keeps its globals (.data, .bss): searched for a pointer to the
    // interpreter state when no symbol leads there (stripped builds).
    std::vector<std::pair<uint64_t, uint64_t>> scan_ranges;  // [start, end)
};

struct WalkOptions {
    size_t max_frames = 100000;
    std::vector<int> known_tids;  // OS threads of the target: validates pthread → tid decoding
    bool locals = false;          // also read each frame's arguments and local variables
    const StackScanner* scanner = nullptr;             // GIL/GC activity from the machine stack
    std::unordered_map<int, uint64_t> stack_pointers;  // tid → stack pointer, when known
    // The frames of a thread found by real unwinding (empty when impossible): asked only for
    // threads whose stack scan hints at a GIL call, and when several threads' stacks hold
    // collector addresses, to find the real one.
    std::function<StackScanner::Pcs(int tid)> unwind_thread;
    // Check every thread's GIL state by unwinding, not only those the scan nominates (when the
    // native stacks are unwound anyway).
    bool confirm_all = false;
};

class InterpreterWalker {
  public:
    InterpreterWalker(const Memory& memory, const Layout& layout, const RuntimeAddresses& addrs,
                      const WalkOptions& options);

    // Every thread of every interpreter. Throws AnalysisError when no interpreter state is
    // found at all; smaller problems become warnings.
    std::vector<PyThreadInfo> walk(std::vector<std::string>* warnings);

  private:
    struct CodeInfo {
        bool valid = false;
        std::string file, function;
        std::optional<std::string> qualname;
        int first_line = 0;
        int first_traceable = 0;
        std::string line_table;
        // Read only when locals are requested.
        std::vector<std::string> varnames;
        std::string kinds;  // 3.11+: one CO_FAST_* byte per name
        int nargs = 0;
        int nlocals = 0;  // <= 3.10
    };

    std::vector<uint64_t> interpreters(std::vector<std::string>* warnings);
    bool plausibleInterpreter(uint64_t interp, bool need_threads = false);
    uint64_t scanForInterpreter();
    void walkThread(uint64_t tstate, PyThreadInfo* thread);
    std::optional<PyExceptionInfo> exceptionInFlight(const std::vector<unsigned char>& ts);
    std::vector<PyFrameInfo> tracebackFrames(uint64_t tb);
    std::string exceptionRepr(uint64_t value, const std::string& type);
    bool isNone(uint64_t obj) const;
    static void orderByTid(std::vector<PyThreadInfo>* threads);
    struct FrameCursor {
        explicit FrameCursor(int64_t frame_size) : buf(static_cast<size_t>(frame_size)) {}
        std::vector<unsigned char> buf;  // the current frame's bytes
        std::unordered_set<uint64_t> seen;
        size_t steps = 0;
    };
    bool readFrame(uint64_t frame, FrameCursor* cursor, PyThreadInfo* thread);
    void walkFrameObjects(uint64_t frame, PyThreadInfo* thread);
    void walkInterpreterFrames(uint64_t frame, PyThreadInfo* thread);
    const CodeInfo& code(uint64_t addr);
    bool isCodeObject(uint64_t addr);
    void readNames(const std::vector<unsigned char>& code, CodeInfo* info);
    void collectLocals(uint64_t frame, const CodeInfo& info, PyFrameInfo* out);
    PyFrameInfo makeFrame(uint64_t frame, uint64_t code_addr, int64_t byte_offset, bool entry);
    int threadId(uint64_t tstate, uint64_t pthread_id);
    int gilState(uint64_t interp, uint64_t tstate);
    struct GilRecord {
        bool known = false;
        bool locked = false;
        uint64_t last_holder = 0;
    };
    GilRecord gilRecord(uint64_t interp);
    int collectingFlag(uint64_t interp);
    void applyStackActivity(uint64_t interp, int collecting, std::vector<PyThreadInfo>* threads);

    const Memory& mem_;
    const Layout& layout_;
    RuntimeAddresses addrs_;
    WalkOptions options_;
    ObjectReader objects_;
    ReprBuilder reprs_;
    std::unordered_map<uint64_t, CodeInfo> codes_;
    std::unordered_set<int> tid_set_;
    std::optional<int64_t> pthread_tid_offset_;
    bool pthread_offset_searched_ = false;
    std::vector<uint64_t> all_tstates_;
};

// One OS thread that runs several interpreters has one native stack for all its thread states
// (ordered as the walk leaves them: the interpreter entered first first). Each gets the part of
// the native stack from just after the previous one's last eval-loop frame to just before the
// next one's first, when the eval-loop frames (named `eval_function`) and the entry frames agree
// in number; otherwise the stacks are left whole (they will not merge, and say so).
void splitNativeStacks(std::vector<PyThreadInfo>* threads, const std::string& eval_function);

}  // namespace triage::cpython
