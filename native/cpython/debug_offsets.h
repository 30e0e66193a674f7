// CPython 3.13+ publishes the offsets debuggers need in _Py_DebugOffsets, at the start of
// _PyRuntime. Reading them makes the analyzer follow a 3.13.x build whose internal structs
// moved, instead of trusting the offsets measured on one build.
#pragma once

#include <cstdint>
#include <string>

#include "cpython/layout.h"
#include "memory.h"

namespace triage::cpython {

// Overwrites `layout`'s offsets with the ones the target publishes at `runtime`. Returns false
// (layout untouched, `why` set) when the structure is absent, of another version, or
// implausible.
bool applyDebugOffsets(const Memory& memory, uint64_t runtime, Layout* layout, std::string* why);

}  // namespace triage::cpython
