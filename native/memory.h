// One interface for reading the target's memory, whatever holds it: a core file, a live process.
// Every read is bounds checked by the implementation; a failed read returns false, never crashes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace triage {

class Memory {
  public:
    virtual ~Memory() = default;

    // Copies up to `len` bytes at `addr` into `buf`. Returns how many leading bytes were copied:
    // a short count means the rest is not readable (not in the core, unmapped, torn down).
    virtual size_t readSome(uint64_t addr, void* buf, size_t len) const = 0;

    bool read(uint64_t addr, void* buf, size_t len) const {
        return len == 0 || readSome(addr, buf, len) == len;
    }

    template <typename T>
    bool readValue(uint64_t addr, T* out) const {
        return read(addr, out, sizeof(T));
    }

    bool readPointer(uint64_t addr, uint64_t* out) const { return readValue(addr, out); }

    // Reads a NUL-terminated string of at most `max_len` bytes, in chunks rather than byte by
    // byte. Returns false when no terminator was found within the readable bytes or the limit.
    bool readCString(uint64_t addr, size_t max_len, std::string* out) const;
};

}  // namespace triage
