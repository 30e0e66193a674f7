// Transparent decompression of core files. Cores are often stored compressed (systemd-coredump
// writes .zst or .lz4, bug reports attach .gz or .xz); the analyzer wants a plain, seekable fd, so
// a compressed core is inflated into an anonymous in-memory file and never touches the disk.
#pragma once

#include <cstdint>
#include <string>

namespace triage {

enum class Compression { None, Gzip, Zstd, Lz4, Xz };

// "gzip", "zstd", "lz4", "xz", or nullptr for None.
const char* compressionName(Compression c);

struct OpenedCore {
    int fd = -1;  // owned by the caller (close it)
    Compression compression = Compression::None;
};

// Opens `path`. If the file starts with a known compression magic (gzip 1f 8b; zstd 28 b5 2f fd;
// lz4 frame 04 22 4d 18; xz fd 37 7a 58 5a 00), decompresses the whole stream (all concatenated
// members / frames) into an anonymous in-memory file made with memfd_create(MFD_CLOEXEC) and
// returns that fd, positioned at offset 0; nothing is ever written to disk. Otherwise returns an
// O_RDONLY|O_CLOEXEC fd of the file itself.
//
// Throws triage::CoreFileError with a one-line message when the file cannot be opened or read
// (missing, permission denied, a directory, not a regular file), when the compressed stream is
// corrupt or truncated, or when the decompressed size would exceed the smallest of
// max_decompressed_bytes, what the address-space limit (RLIMIT_AS) leaves, and 1000 times the
// compressed size (at least 256 MiB): a decompression bomb is stopped there.
// No fd is leaked on error.
OpenedCore openCoreFile(const std::string& path, uint64_t max_decompressed_bytes);

}  // namespace triage
