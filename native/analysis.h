// Plain results of an analysis: what crosses into Python (converted once, in the bindings).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "corefile.h"

namespace triage {

struct PyFrameInfo {
    std::string file;
    std::string function;
    std::optional<std::string> qualname;  // 3.11+
    int line = -1;                        // -1: unknown
    int first_line = 0;
    // 3.11+ (PEP 657 location table): the instruction's span, columns 0-based as
    // code.co_positions() gives them; -1 when unknown or before 3.11.
    int end_line = -1;
    int column = -1;
    int end_column = -1;
    bool is_entry = true;  // the first frame run by its own C call of the eval loop
    uint64_t frame_address = 0;
    uint64_t code_address = 0;
    // With locals requested: (name, repr) in the code object's order; unbound names left out.
    std::vector<std::pair<std::string, std::string>> arguments;
    std::vector<std::pair<std::string, std::string>> locals;
};

struct NativeFrameInfo {
    uint64_t address = 0;
    std::string function;  // demangled; "???" without a symbol
    std::string file;      // source file from DWARF, empty when unknown
    int line = 0;          // 0 when unknown
    int column = 0;
    std::string library;       // file name of the module, empty when the address is in none
    std::string library_path;  // the module's path as the target had it mapped
    uint64_t offset = 0;   // address - the module's load address: locates a frame without symbols
    bool inlined = false;  // a call inlined at this address (same address as its caller)
};

// The exception a thread is raising or handling, read from its thread state.
struct PyExceptionInfo {
    std::string type;  // the exception's type name (tp_name), e.g. "ValueError"
    std::string repr;  // bounded repr of the exception object; empty when only the type is known
    bool handled = false;  // true: being handled (an except block runs); false: being raised
    std::vector<PyFrameInfo> traceback;  // its traceback, outermost first (file, function, line)
};

constexpr int kGilWaiting = 2;
constexpr int kGilDropping = 3;

struct PyThreadInfo {
    int tid = 0;  // 0 when the OS thread could not be identified
    uint64_t tstate = 0;
    int64_t interpreter_id = 0;
    // Address of the thread state's most recent entry into the eval loop from C (3.11+; 0 when
    // unknown). One OS thread running several interpreters has one thread state per interpreter:
    // the one entered first has the highest anchor (3.12+: the entry shims are on the C stack).
    uint64_t stack_anchor = 0;
    int gil = -1;                     // 1 holds the GIL, 0 does not, -1 unknown
    int gc = -1;                      // 1 garbage collecting, 0 not, -1 unknown
    std::vector<PyFrameInfo> frames;  // outermost first
    bool truncated = false;
    std::vector<std::string> warnings;
    bool python = true;  // has a Python thread state; false for native-only threads
    std::vector<NativeFrameInfo> native_frames;  // outermost first; with native modes only
    // Live processes: the kernel's name of the thread (/proc/PID/task/TID/comm), as PyStack
    // prints it after the tid.
    std::optional<std::string> os_name;
    // The name the `threading` module gave the thread (Thread.name), read from memory; none
    // for a thread threading does not know.
    std::optional<std::string> python_name;
    uint64_t thread_ident = 0;  // the thread state's thread_id (pthread_t): threading's key
    uint64_t interp = 0;        // its interpreter state (each has its own threading module)
    std::optional<PyExceptionInfo> exception;  // none when the thread has no exception in flight
};

struct PythonVersion {
    int major = 0, minor = 0, micro = -1;  // micro -1: unknown
};

struct Analysis {
    std::string kind;  // "core" or "process"
    std::string core_path;
    const char* compression = nullptr;
    ProcessInfo process;
    SignalInfo signal;
    std::vector<std::string> argv;  // live processes: the full command line
    std::optional<std::string> execfn;
    std::vector<int> tids;
    std::string executable;
    bool executable_from_core = true;
    std::optional<PythonVersion> python_version;
    std::optional<std::string> python_error;
    std::vector<PyThreadInfo> threads;
    std::vector<std::string> missing_libraries;
    std::vector<std::string> warnings;
    double stopped_seconds = 0;  // live processes: how long the target was stopped
};

struct AnalysisOptions {
    std::string executable;  // cores: empty means the one recorded in the core
    std::vector<std::string> lib_search_path;
    std::string lib_search_root;
    size_t max_frames = 100000;
    bool locals = false;
    bool block = true;        // live processes: stop every thread while reading
    bool native = false;      // unwind native stacks of Python threads
    bool native_all = false;  // ... and of threads without Python
};

// Reads a core and recovers its Python threads. Throws CoreFileError when the file is not a
// usable core; a core without Python comes back with `python_error` set and no threads.
Analysis analyzeCore(const std::string& path, const AnalysisOptions& options);

// Reads a running process, stopping it only for the reads (or not at all without `block`).
// Throws ProcessError when it cannot be inspected.
Analysis analyzeProcess(int pid, const AnalysisOptions& options);

}  // namespace triage
