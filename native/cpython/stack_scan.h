// What a thread is doing inside the interpreter, read off its machine stack: return addresses
// into take_gil / drop_gil / the collector on the live part of the stack hint that the thread
// is waiting for the GIL, dropping it, or collecting garbage. The scan is cheap (one bounded read
// per thread) and independent of CFI, so it works in Python-only mode too, where PyStack can only
// tell "has the GIL". A hint about the GIL is only believed once a real unwind confirms it.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "memory.h"

namespace triage::cpython {

// What the live part of a thread's stack shows. The innermost few words that point into the
// interpreter's code just after a call instruction are taken as return addresses of the
// interpreter's innermost calls: one in take_gil or drop_gil makes the thread a candidate. A
// stale address left in an uninitialized slot of a live frame (a library that reserved stack
// and never wrote it) looks the same, so a candidate is only a hint (see confirm). The
// collector, called far up the stack, is looked for anywhere, and is only believed while the
// interpreter's own "collecting" flag is set (see InterpreterWalker).
struct StackActivity {
    bool in_take_gil = false;
    bool in_drop_gil = false;
    bool collector_on_stack = false;
};

class StackScanner {
  public:
    using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // run-time [start, end)
    // (pc, is_activation) of an unwound thread, innermost first.
    using Pcs = std::vector<std::pair<uint64_t, bool>>;

    struct Functions {
        Ranges interpreter_text;  // executable segments of the module holding the interpreter
        Ranges take_gil, drop_gil, collector;
        // 2.7 has no take_gil: the GIL is a lock taken by PyThread_acquire_lock, which is the
        // GIL wait only when called by one of `gil_acquirers` (not by threading's locks).
        Ranges lock_acquire, gil_acquirers;
        // Where the wait itself runs (libc, libpthread, the dynamic loader): the only code that
        // may be below take_gil on a thread that waits there.
        Ranges wait_code;
    };

    StackScanner(const Memory& memory, Functions functions);
    bool usable() const {
        return !f_.take_gil.empty() || !f_.lock_acquire.empty() || !f_.collector.empty();
    }
    bool inCollector(uint64_t pc) const;

    // Scans the words from `sp` towards the stack's base (at most a fixed budget, stopping at
    // the first unreadable byte).
    StackActivity scan(uint64_t sp) const;

    // The GIL part of the activity from a real unwind of the thread: waiting (dropping) only
    // when the innermost frame of the interpreter is take_gil (drop_gil) and everything below it
    // is the wait in libc. Pcs that are not a live call chain never get here.
    StackActivity confirm(const Pcs& pcs) const;

  private:
    bool followsCall(uint64_t addr) const;
    const Memory& mem_;
    Functions f_;
};

// Names of the interpreter's functions that the scanner looks for, across 2.7 to 3.13.
extern const std::vector<std::string> kTakeGilFunctions;
extern const std::vector<std::string> kDropGilFunctions;
extern const std::vector<std::string> kCollectorFunctions;
extern const std::vector<std::string> kCollectorEntryPoints;
extern const std::vector<std::string> kLockAcquireFunctions;
extern const std::vector<std::string> kGilAcquirerFunctions;
// Exported functions that call the collector first thing: on a build without local symbols the
// collector is found as the target of their first call to an unnamed function.
extern const std::vector<std::string> kCollectorCallers;

}  // namespace triage::cpython
