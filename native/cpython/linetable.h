// Line numbers from a code object's line table, in each version's own format.
#pragma once

#include <cstdint>
#include <string>

#include "cpython/layout.h"

namespace triage::cpython {

// The source line of the instruction at `byte_offset` in the bytecode, or -1 when the table
// says the instruction has no line. Bounded by the table's size; never reads past it.
int lineForOffset(LineTable format, const std::string& table, int first_line, int64_t byte_offset);

}  // namespace triage::cpython
