// Readable names for mangled symbols: C++ (Itanium ABI) and Rust (legacy and v0).
#pragma once

#include <string>

namespace triage {

// The demangled name (with parameters for C++), or `symbol` unchanged when it is not mangled.
// libiberty's demangler is used because it is the one GNU binutils and gdb use: one library
// for the Itanium C++ ABI, Rust's legacy scheme (hash suffix dropped) and Rust v0.
std::string demangle(const std::string& symbol);

}  // namespace triage
