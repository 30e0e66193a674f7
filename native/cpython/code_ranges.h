// Code ranges the stack scanner needs that symbols alone do not give: the collector of an
// interpreter built without local symbols, and the C library code a GIL wait runs in.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "elf_file.h"
#include "modules.h"

namespace triage::cpython {

using CodeRanges = std::vector<std::pair<uint64_t, uint64_t>>;  // run-time [start, end)

// A function without a symbol, found through its exported caller: the target of the first
// direct call made by one of `callers` (exported, so still named on a stripped build) to a
// function start listed in the unwind tables (.eh_frame_hdr survives stripping), up to the next
// function. How the collector (called first by PyGC_Collect) and take_gil (by
// PyEval_RestoreThread) are found without local symbols. Empty when nothing fits.
CodeRanges calledFirst(const ElfFile& elf, const std::vector<std::string>& callers,
                       uint64_t load_bias);

// The mapped ranges of the C library, its threads library and the dynamic loader: where a
// condition-variable, semaphore or futex wait runs.
CodeRanges waitCode(const ModuleSet& modules);

}  // namespace triage::cpython
