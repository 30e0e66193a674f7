// SHA-256 of a whole file, for the pipeline's content identity of a core.
#pragma once

#include <string>

namespace triage {

// The SHA-256 of everything in the file open on `fd`, as 64 lowercase hex digits. Reads with
// pread() from offset 0, so the descriptor's own offset does not matter and is left alone.
// Returns an empty string and sets `error_number` (an errno value) when a read fails.
std::string sha256OfFile(int fd, int* error_number);

}  // namespace triage
