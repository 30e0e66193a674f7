#include "file_digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <vector>

namespace triage {

namespace {

// Small enough that each chunk is still in the CPU's cache when it is hashed right after the
// copy; large enough that the system calls cost nothing next to the hashing.
constexpr size_t kChunk = 128 << 10;

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string hex(const unsigned char* bytes, unsigned int size) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (unsigned int i = 0; i < size; ++i) {
        out.push_back(digits[bytes[i] >> 4]);
        out.push_back(digits[bytes[i] & 0xf]);
    }
    return out;
}

}  // namespace

std::string sha256OfFile(int fd, int* error_number) {
    DigestContext context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("OpenSSL cannot compute SHA-256");
    }
    // Cores are read once, front to back: ask for read-ahead (the analyzer maps them later).
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    std::vector<unsigned char> chunk(kChunk);
    off_t offset = 0;
    for (;;) {
        ssize_t got = pread(fd, chunk.data(), chunk.size(), offset);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            *error_number = errno;
            return "";
        }
        if (got == 0) break;
        EVP_DigestUpdate(context.get(), chunk.data(), static_cast<size_t>(got));
        offset += got;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context.get(), digest, &size);
    return hex(digest, size);
}

}  // namespace triage
