#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace triage {

int openRegularFile(const std::string& path, std::string* error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        *error = std::strerror(errno);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        *error = std::strerror(errno);
    } else if (!S_ISREG(st.st_mode)) {
        *error = S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
    } else {
        return fd;
    }
    ::close(fd);
    return -1;
}

std::unique_ptr<MappedFile> MappedFile::fromFd(int fd, std::string* error) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
        *error = std::strerror(errno);
        return nullptr;
    }
    if (!S_ISREG(st.st_mode)) {
        *error = S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
        return nullptr;
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size == 0) return std::unique_ptr<MappedFile>(new MappedFile(nullptr, 0));
    void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        *error = std::strerror(errno);
        return nullptr;
    }
    // Reads jump around (pointer chasing): read-ahead would only waste I/O.
    madvise(p, size, MADV_RANDOM);
    return std::unique_ptr<MappedFile>(new MappedFile(static_cast<unsigned char*>(p), size));
}

std::unique_ptr<MappedFile> MappedFile::open(const std::string& path, std::string* error) {
    int fd = openRegularFile(path, error);
    if (fd < 0) return nullptr;
    auto file = fromFd(fd, error);
    ::close(fd);
    return file;
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) munmap(const_cast<unsigned char*>(data_), size_);
}

size_t MappedFile::copy(uint64_t offset, void* buf, size_t len) const {
    if (offset >= size_) return 0;
    size_t n = static_cast<size_t>(std::min<uint64_t>(len, size_ - offset));
    std::memcpy(buf, data_ + offset, n);
    return n;
}

}  // namespace triage
