// A read-only memory map of a whole file, with bounds-checked copies out of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace triage {

// Opens a file named by untrusted input (a core's list of mapped files, its AT_EXECFN, a
// library path): read-only, close-on-exec, and without blocking, so a FIFO or a device can
// neither hang open() nor be read. Returns -1 with `error` set unless it is a regular file.
int openRegularFile(const std::string& path, std::string* error);

class MappedFile {
  public:
    // Maps the file behind `fd` (the fd is not taken over). Returns nullptr and sets `error`
    // when the file cannot be mapped (empty files map to an empty object).
    static std::unique_ptr<MappedFile> fromFd(int fd, std::string* error);
    // Opens and maps `path`; nullptr (with `error`) when it cannot.
    static std::unique_ptr<MappedFile> open(const std::string& path, std::string* error);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const unsigned char* data() const { return data_; }
    uint64_t size() const { return size_; }

    // Copies up to `len` bytes at `offset`; returns how many were inside the file.
    size_t copy(uint64_t offset, void* buf, size_t len) const;

  private:
    MappedFile(const unsigned char* data, uint64_t size) : data_(data), size_(size) {}
    const unsigned char* data_;
    uint64_t size_;
};

}  // namespace triage
