// Line numbers from a code object's line table, in each version's own format.
#pragma once

#include <cstdint>
#include <string>

#include "cpython/layout.h"

namespace triage::cpython {

// The source line of the instruction at `byte_offset` in the bytecode, or -1 when the table
// says the instruction has no line. Bounded by the table's size; never reads past it.
int lineForOffset(LineTable format, const std::string& table, int first_line, int64_t byte_offset);

// Where the instruction at `byte_offset` is in the source, from a PEP 657 location table (3.11+):
// lines, and columns as the table stores them (0-based byte offsets in the UTF-8 source line,
// as code.co_positions() gives them). -1 for what the table does not say.
struct Location {
    int line = -1, end_line = -1, column = -1, end_column = -1;
};
Location locationForOffset(const std::string& table, int first_line, int64_t byte_offset);

}  // namespace triage::cpython
