#include "file_digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <vector>

#include "numbers.h"

namespace triage {

namespace {

// Small enough that each chunk is still in the CPU's cache when it is hashed right after the
// copy (in Python, 64 KiB chunks hashed faster than 8 MiB ones); not tuned further.
constexpr size_t kChunk = 128 << 10;

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

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
    return toHex(digest, size);
}

}  // namespace triage
