#include "decompress.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <lzma.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "errors.h"

namespace triage {

namespace {

// Bounded buffers: the compressed file is streamed, never loaded whole, so the only large
// allocation is the decompressed core itself in the memfd. 1 MiB keeps syscalls few.
constexpr size_t kChunkSize = 1 << 20;

// Decompression bombs: at most this many times the compressed size, but never less than the
// floor. Documented in docs/robustness.md.
constexpr uint64_t kMaxRatio = 1000;
constexpr uint64_t kMinRatioCap = uint64_t{256} << 20;

// Closes the fd unless ownership was handed out with release(), so every error path is leak-free.
class FdGuard {
  public:
    explicit FdGuard(int fd) : fd_(fd) {}
    ~FdGuard() {
        if (fd_ >= 0) ::close(fd_);
    }
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;
    int get() const { return fd_; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }

  private:
    int fd_;
};

std::string errnoText(int err) {
    return std::generic_category().message(err);
}

// Every message names the file, so a CLI can print it as is.
[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw CoreFileError("core file '" + path + "': " + what);
}

// The compressed input: one read() at a time into a fixed buffer, EINTR retried.
struct Source {
    int fd;
    const std::string& path;
    std::vector<unsigned char> buf = std::vector<unsigned char>(kChunkSize);

    // Returns the number of bytes now at buf.data(); 0 means end of file.
    size_t read() {
        for (;;) {
            ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n >= 0) return static_cast<size_t>(n);
            if (errno != EINTR) fail(path, "read error: " + errnoText(errno));
        }
    }
};

// A cap on the decompressed size and the reason for it, named in the error.
struct OutputLimit {
    uint64_t bytes;
    std::string why;
};

// The decompressed output: the memfd plus the size cap, which is checked before writing so a
// decompression bomb is stopped at the limit rather than after filling memory.
struct Sink {
    int fd;
    const std::string& path;
    OutputLimit limit;
    uint64_t total = 0;
    std::vector<unsigned char> buf = std::vector<unsigned char>(kChunkSize);

    void write(const unsigned char* data, size_t len) {
        if (len > limit.bytes - total) {
            fail(path, "decompressed size exceeds " + std::to_string(limit.bytes) + " bytes (" +
                           limit.why + "); not decompressed");
        }
        total += len;
        // write() may be short (signals, memory pressure on the tmpfs behind the memfd).
        while (len > 0) {
            ssize_t n = ::write(fd, data, len);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                int err = n < 0 ? errno : ENOSPC;
                fail(path, "cannot store decompressed data in memory: " + errnoText(err));
            }
            data += n;
            len -= static_cast<size_t>(n);
        }
    }
};

Compression detect(const unsigned char* magic, size_t len) {
    auto startsWith = [&](std::initializer_list<unsigned char> sig) {
        return len >= sig.size() && std::memcmp(magic, sig.begin(), sig.size()) == 0;
    };
    if (startsWith({0x1f, 0x8b})) return Compression::Gzip;
    if (startsWith({0x28, 0xb5, 0x2f, 0xfd})) return Compression::Zstd;
    if (startsWith({0x04, 0x22, 0x4d, 0x18})) return Compression::Lz4;
    if (startsWith({0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00})) return Compression::Xz;
    return Compression::None;
}

// Reads up to `cap` bytes at `offset` with pread(), which leaves the file offset at 0 for whoever
// reads next. Returns fewer than `cap` bytes only at end of file.
size_t readAt(int fd, const std::string& path, uint64_t offset, unsigned char* buf, size_t cap) {
    size_t got = 0;
    while (got < cap) {
        ssize_t n = ::pread(fd, buf + got, cap - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(path, "read error: " + errnoText(errno));
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    return got;
}

// Skippable frames (magic 50..5f 2a 4d 18, then a 32-bit little-endian length) belong to both the
// zstd and the lz4 frame formats, and pzstd starts its output with one. The format is decided by
// the first real frame after them. No ELF core starts with that magic, so a file made only of
// skippable frames (or with garbage behind them) is left to the zstd decoder to accept or reject.
Compression detectFormat(int fd, const std::string& path) {
    constexpr int kMaxSkippable = 16;  // pzstd writes one per frame; this is far beyond that
    uint64_t offset = 0;
    for (int i = 0; i <= kMaxSkippable; ++i) {
        unsigned char magic[8];
        size_t len = readAt(fd, path, offset, magic, sizeof magic);
        bool skippable = len >= 4 && (magic[0] & 0xf0) == 0x50 && magic[1] == 0x2a &&
                         magic[2] == 0x4d && magic[3] == 0x18;
        if (!skippable) {
            Compression c = detect(magic, len);
            // Behind skippable frames only lz4 or zstd make sense; let zstd report anything else.
            return (offset > 0 && c != Compression::Lz4) ? Compression::Zstd : c;
        }
        if (len < 8) return Compression::Zstd;  // cut inside the header: the decoder will say so
        uint32_t size = magic[4] | magic[5] << 8 | magic[6] << 16 | uint32_t{magic[7]} << 24;
        offset += 8 + uint64_t{size};
    }
    return Compression::Zstd;
}

// gzip: `cat a.gz b.gz` is a valid gzip file, so after each member ends the inflater is reset
// and decoding continues with whatever input follows. windowBits 15+32 lets zlib parse the
// gzip header itself.
void inflateGzip(Source& src, Sink& out) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 32) != Z_OK) fail(src.path, "cannot initialise zlib");
    std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);

    bool inMember = false;       // consumed part of a member whose end was not seen yet
    bool outputPending = false;  // last call filled the output buffer: more may be waiting
    for (;;) {
        if (zs.avail_in == 0 && !outputPending) {
            size_t n = src.read();
            if (n == 0) break;
            zs.next_in = src.buf.data();
            zs.avail_in = static_cast<uInt>(n);
        }
        zs.next_out = out.buf.data();
        zs.avail_out = static_cast<uInt>(out.buf.size());
        int rc = inflate(&zs, Z_NO_FLUSH);
        out.write(out.buf.data(), out.buf.size() - zs.avail_out);
        outputPending = zs.avail_out == 0;
        if (rc == Z_STREAM_END) {
            inflateReset(&zs);
            inMember = false;
            outputPending = false;
        } else if (rc == Z_OK) {
            inMember = true;
        } else if (rc != Z_BUF_ERROR) {  // Z_BUF_ERROR only means "needs more input"
            fail(src.path, std::string("corrupt gzip stream: ") + (zs.msg ? zs.msg : "error"));
        }
    }
    if (inMember) fail(src.path, "truncated gzip stream");
}

// zstd: ZSTD_decompressStream moves on to the next frame by itself (pzstd writes many frames).
// It returns 0 exactly when a frame is complete and flushed, so a non-zero hint at end of input
// means the last frame was cut short.
void inflateZstd(Source& src, Sink& out) {
    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!dctx) fail(src.path, "cannot initialise zstd");

    size_t hint = 0;
    for (size_t n; (n = src.read()) > 0;) {
        ZSTD_inBuffer in{src.buf.data(), n, 0};
        bool outputFull = false;
        while (in.pos < in.size || outputFull) {
            ZSTD_outBuffer o{out.buf.data(), out.buf.size(), 0};
            hint = ZSTD_decompressStream(dctx.get(), &o, &in);
            if (ZSTD_isError(hint)) {
                fail(src.path, std::string("corrupt zstd stream: ") + ZSTD_getErrorName(hint));
            }
            out.write(out.buf.data(), o.pos);
            // A full buffer may hide more output, unless the frame just ended (hint 0): then
            // another call would start the next frame without input and report a bogus hint.
            outputFull = o.pos == o.size && hint != 0;
        }
    }
    if (hint != 0) fail(src.path, "truncated zstd stream");
}

// lz4 frame format (lz4 CLI, systemd-coredump): like zstd, the context restarts on the next
// frame by itself and LZ4F_decompress returns 0 only at the end of a complete frame.
void inflateLz4(Source& src, Sink& out) {
    LZ4F_dctx* raw = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
        fail(src.path, "cannot initialise lz4");
    }
    std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> dctx(
        raw, LZ4F_freeDecompressionContext);

    size_t hint = 0;
    for (size_t n; (n = src.read()) > 0;) {
        size_t pos = 0;
        bool outputFull = false;
        while (pos < n || outputFull) {
            size_t srcSize = n - pos;
            size_t dstSize = out.buf.size();
            hint = LZ4F_decompress(dctx.get(), out.buf.data(), &dstSize, src.buf.data() + pos,
                                   &srcSize, nullptr);
            if (LZ4F_isError(hint)) {
                fail(src.path, std::string("corrupt lz4 stream: ") + LZ4F_getErrorName(hint));
            }
            pos += srcSize;
            out.write(out.buf.data(), dstSize);
            outputFull = dstSize == out.buf.size() && hint != 0;  // as for zstd above
        }
    }
    if (hint != 0) fail(src.path, "truncated lz4 stream");
}

std::string lzmaErrorText(lzma_ret rc) {
    switch (rc) {
        case LZMA_MEM_ERROR:
            return "out of memory";
        case LZMA_FORMAT_ERROR:
            return "not in .xz format";
        case LZMA_OPTIONS_ERROR:
            return "unsupported compression options";
        case LZMA_DATA_ERROR:
            return "compressed data is corrupt";
        default:
            return "error " + std::to_string(static_cast<int>(rc));
    }
}

// xz: LZMA_CONCATENATED accepts `cat a.xz b.xz` like xz(1) does. With that flag the decoder only
// knows the input is over when told LZMA_FINISH, and then reports LZMA_STREAM_END only if the
// last stream was complete.
void inflateXz(Source& src, Sink& out) {
    lzma_stream xs = LZMA_STREAM_INIT;
    lzma_ret rc = lzma_stream_decoder(&xs, UINT64_MAX, LZMA_CONCATENATED);
    if (rc != LZMA_OK) fail(src.path, "cannot initialise liblzma: " + lzmaErrorText(rc));
    std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&xs, lzma_end);

    lzma_action action = LZMA_RUN;
    for (;;) {
        if (xs.avail_in == 0 && action == LZMA_RUN) {
            size_t n = src.read();
            xs.next_in = src.buf.data();
            xs.avail_in = n;
            if (n == 0) action = LZMA_FINISH;
        }
        xs.next_out = out.buf.data();
        xs.avail_out = out.buf.size();
        rc = lzma_code(&xs, action);
        out.write(out.buf.data(), out.buf.size() - xs.avail_out);
        if (rc == LZMA_STREAM_END) return;
        if (rc == LZMA_OK) continue;
        // LZMA_BUF_ERROR after LZMA_FINISH: no progress is possible because the input ran out.
        if (rc == LZMA_BUF_ERROR && action == LZMA_FINISH) fail(src.path, "truncated xz stream");
        fail(src.path, "corrupt xz stream: " + lzmaErrorText(rc));
    }
}

// Bytes the address space can still take (the memfd is mapped whole once written, but pages of
// a memfd are not counted against RLIMIT_AS while they are written): UINT64_MAX when unlimited.
uint64_t addressSpaceLeft() {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
    uint64_t used = 0;
    if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
        unsigned long long pages = 0;
        if (std::fscanf(statm, "%llu", &pages) == 1)
            used = pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
        std::fclose(statm);
    }
    return rl.rlim_cur > used ? rl.rlim_cur - used : 0;
}

// The smallest of: the caller's cap, what the address-space limit leaves, and a ratio to the
// compressed size (real cores compress 5-50 times, up to a few hundred times when mostly
// zero pages; a bomb compresses millions of times). The floor keeps small cores of sparse
// processes working whatever their ratio.
OutputLimit outputLimit(uint64_t caller_cap, uint64_t compressed_size) {
    OutputLimit limit{caller_cap, "the analyzer's maximum core size"};
    uint64_t by_ratio = std::max(kMinRatioCap, compressed_size > UINT64_MAX / kMaxRatio
                                                   ? UINT64_MAX
                                                   : compressed_size * kMaxRatio);
    if (by_ratio < limit.bytes)
        limit = {by_ratio, std::to_string(kMaxRatio) + " times the compressed size, at least " +
                               std::to_string(kMinRatioCap >> 20) + " MiB"};
    uint64_t left = addressSpaceLeft();
    if (left < limit.bytes) limit = {left, "what the address-space limit (ulimit -v) leaves"};
    return limit;
}

// Decompresses everything readable from `fd` into a new memfd and returns it at offset 0.
int decompressToMemfd(int fd, const std::string& path, Compression c, OutputLimit limit) {
    FdGuard mem(::memfd_create("coretriage-core", MFD_CLOEXEC));
    if (mem.get() < 0) fail(path, "cannot create in-memory file: " + errnoText(errno));

    Source src{fd, path};
    Sink out{mem.get(), path, limit};
    switch (c) {
        case Compression::Gzip:
            inflateGzip(src, out);
            break;
        case Compression::Zstd:
            inflateZstd(src, out);
            break;
        case Compression::Lz4:
            inflateLz4(src, out);
            break;
        case Compression::Xz:
            inflateXz(src, out);
            break;
        case Compression::None:
            break;
    }
    // The caller may read() rather than pread()/mmap(); hand the file over rewound.
    if (::lseek(mem.get(), 0, SEEK_SET) < 0) fail(path, "cannot rewind in-memory file");
    return mem.release();
}

}  // namespace

const char* compressionName(Compression c) {
    switch (c) {
        case Compression::Gzip:
            return "gzip";
        case Compression::Zstd:
            return "zstd";
        case Compression::Lz4:
            return "lz4";
        case Compression::Xz:
            return "xz";
        case Compression::None:
            break;
    }
    return nullptr;
}

OpenedCore openCoreFile(const std::string& path, uint64_t max_decompressed_bytes) {
    // O_NONBLOCK so that a FIFO given by mistake is rejected below instead of hanging in open().
    FdGuard file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (file.get() < 0) {
        throw CoreFileError("cannot open core file '" + path + "': " + errnoText(errno));
    }
    // open() succeeds on directories and devices; reject them here with a clear reason instead
    // of an obscure read error later.
    struct stat st;
    if (::fstat(file.get(), &st) != 0) fail(path, "cannot stat: " + errnoText(errno));
    if (S_ISDIR(st.st_mode)) {
        throw CoreFileError("cannot open core file '" + path + "': " + errnoText(EISDIR));
    }
    if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
    // The fd may be handed to the caller: give it the plain O_RDONLY status it was promised.
    if (::fcntl(file.get(), F_SETFL, 0) != 0) fail(path, "fcntl: " + errnoText(errno));

    Compression c = detectFormat(file.get(), path);
    OpenedCore result;
    result.compression = c;
    if (c == Compression::None) {
        result.fd = file.release();
    } else {
        result.fd = decompressToMemfd(
            file.get(), path, c,
            outputLimit(max_decompressed_bytes, static_cast<uint64_t>(st.st_size)));
    }
    return result;
}

}  // namespace triage
