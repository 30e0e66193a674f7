// Code ranges the stack scanner needs that symbols alone do not give: the collector of an
// interpreter built without local symbols, and the C library code a GIL wait runs in.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "elf_file.h"
#include "modules.h"

namespace triage::cpython {

using CodeRanges = std::vector<std::pair<uint64_t, uint64_t>>;  // run-time [start, end)

// The collector's entry function on a stripped interpreter: the target of the first direct call
// made by one of kCollectorCallers (exported, so still named), bounded by its unwind table entry
// (.eh_frame survives stripping). Empty when nothing fits.
CodeRanges collectorFromCallers(const ElfFile& elf, uint64_t load_bias);

// The mapped ranges of the C library, its threads library and the dynamic loader: where a
// condition-variable, semaphore or futex wait runs.
CodeRanges waitCode(const ModuleSet& modules);

}  // namespace triage::cpython
