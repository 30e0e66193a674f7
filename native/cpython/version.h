// Which CPython a target runs, and which of its mapped files holds the interpreter.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "analysis.h"
#include "memory.h"
#include "modules.h"

namespace triage::cpython {

struct PythonModule {
    const Module* module = nullptr;
    PythonVersion version;
};

// Looks at libpython first, then the executable. Never runs anything: the version comes from
// the exported Py_Version (3.11+), else the version string Py_GetVersion() left in .bss, else
// the file name. Returns nullopt (with `why_not`) for a process without Python.
std::optional<PythonModule> detectPython(const ModuleSet& modules, const Module* executable,
                                         const Memory& memory, std::string* why_not);

}  // namespace triage::cpython
