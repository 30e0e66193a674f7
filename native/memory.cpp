#include "memory.h"

#include <algorithm>
#include <cstring>

namespace triage {

bool Memory::readCString(uint64_t addr, size_t max_len, std::string* out) const {
    out->clear();
    char chunk[128];
    while (out->size() < max_len) {
        // Never cross a page boundary in one read: the next page may be unmapped even when the
        // string ends before it.
        size_t to_page_end = 4096 - ((addr + out->size()) & 4095);
        size_t want = std::min({sizeof(chunk), to_page_end, max_len - out->size()});
        size_t got = readSome(addr + out->size(), chunk, want);
        if (got == 0) return false;
        const void* nul = std::memchr(chunk, 0, got);
        if (nul != nullptr) {
            out->append(chunk, static_cast<const char*>(nul) - chunk);
            return true;
        }
        out->append(chunk, got);
        if (got < want) return false;
    }
    return false;
}

}  // namespace triage
