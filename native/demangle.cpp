#include "demangle.h"

#include <libiberty/demangle.h>

#include <cstdlib>

namespace triage {

std::string demangle(const std::string& symbol) {
    if (symbol.size() < 3 || symbol[0] != '_' || (symbol[1] != 'Z' && symbol[1] != 'R'))
        return symbol;
    // Versioned or cloned symbols (foo@GLIBC_2.2.5, foo.cold) demangle without the suffix.
    size_t cut = symbol.find_first_of("@.");
    std::string base = symbol.substr(0, cut);
    char* out = cplus_demangle(base.c_str(), DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
    if (out == nullptr) return symbol;
    std::string result(out);
    std::free(out);
    // As gdb shows compiler clones; symbol versions are left out.
    if (cut != std::string::npos && symbol[cut] == '.')
        result += " [clone " + symbol.substr(cut) + "]";
    return result;
}

}  // namespace triage
