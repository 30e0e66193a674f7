// Exceptions thrown by the analyzer. A fatal problem with the input throws; a frame or thread
// that cannot be decoded becomes a warning on the result instead (see analysis.h).
#pragma once

#include <stdexcept>
#include <string>

namespace triage {

// The input cannot be used as a core at all: unreadable, not ELF, not a core, truncated headers.
// Maps to exit code 3 in the CLI.
class CoreFileError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The process cannot be inspected: no such process, a zombie, permission denied. Exit code 3.
class ProcessError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The input is readable but the analysis cannot produce a usable answer. Maps to exit code 1.
class AnalysisError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace triage
