// What a thread is doing inside the interpreter, read off its machine stack without unwinding:
// return addresses into take_gil / drop_gil / the collector on the live part of the stack mean
// the thread is waiting for the GIL, dropping it, or collecting garbage. Cheap (one bounded
// read per thread) and independent of CFI, so it works in Python-only mode too, where PyStack
// can only tell "has the GIL".
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "memory.h"

namespace triage::cpython {

// What the live part of a thread's stack shows. The innermost word that points into the
// interpreter's code just after a call instruction is taken as the return address of the
// interpreter's innermost active call (the frames below it belong to libc: futex waits, sleeps):
// when it is in take_gil or drop_gil, the thread is inside that call. A stale address left in an
// uninitialized slot could mislead a deeper match, so only the innermost one counts. The collector,
// called far up the stack, is looked for anywhere, and is only believed while the interpreter's own
// "collecting" flag is set (see InterpreterWalker).
struct StackActivity {
    bool in_take_gil = false;
    bool in_drop_gil = false;
    bool collector_on_stack = false;
};

class StackScanner {
  public:
    using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // run-time [start, end)

    StackScanner(const Memory& memory, Ranges interpreter_text, Ranges take_gil, Ranges drop_gil,
                 Ranges collector);
    bool usable() const { return !take_gil_.empty() || !collector_.empty(); }
    bool inCollector(uint64_t pc) const;

    // Scans the words from `sp` towards the stack's base (at most a fixed budget, stopping at
    // the first unreadable byte).
    StackActivity scan(uint64_t sp) const;

  private:
    bool followsCall(uint64_t addr) const;
    const Memory& mem_;
    Ranges text_, take_gil_, drop_gil_, collector_;
};

// Names of the interpreter's functions that the scanner looks for, across 2.7 to 3.13.
extern const std::vector<std::string> kTakeGilFunctions;
extern const std::vector<std::string> kDropGilFunctions;
extern const std::vector<std::string> kCollectorFunctions;

}  // namespace triage::cpython
