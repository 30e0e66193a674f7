#include "cpython/version.h"

#include <cctype>
#include <mutex>
#include <unordered_map>

#include "numbers.h"

namespace triage::cpython {

namespace {

constexpr size_t kScanChunk = 1 << 16;
constexpr uint64_t kMaxBssScan = 64ull << 20;
constexpr size_t kMaxHints = 256;

std::string baseName(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool isLibpython(const Module& m) {
    return baseName(m.name).rfind("libpython", 0) == 0;
}

std::optional<PythonVersion> fromHex(uint64_t hex) {
    PythonVersion v{static_cast<int>((hex >> 24) & 0xff), static_cast<int>((hex >> 16) & 0xff),
                    static_cast<int>((hex >> 8) & 0xff)};
    unsigned level = (hex >> 4) & 0xf;
    if ((v.major != 2 && v.major != 3) || level < 0xA || level > 0xF) return std::nullopt;
    return v;
}

// Parses "X.Y.Z" at `p` when it is followed by a space and "(" as in Py_GetVersion()'s
// "3.9.18 (main, Nov 25 2026, 10:00:00) [GCC 12.2.0]".
std::optional<PythonVersion> parseVersionString(const char* p, const char* end) {
    int parts[3] = {0, 0, 0};
    int idx = 0;
    const char* q = p;
    while (q < end && idx < 3) {
        if (!std::isdigit(static_cast<unsigned char>(*q))) return std::nullopt;
        int value = 0;
        int digits = 0;
        while (q < end && std::isdigit(static_cast<unsigned char>(*q)) && digits < 3)
            value = value * 10 + (*q++ - '0'), ++digits;
        parts[idx++] = value;
        if (idx < 3) {
            if (q >= end || *q != '.') return std::nullopt;
            ++q;
        }
    }
    if (idx != 3) return std::nullopt;
    while (q < end && (std::isalnum(static_cast<unsigned char>(*q)) || *q == '+')) ++q;
    if (q + 1 >= end || q[0] != ' ' || q[1] != '(') return std::nullopt;
    if (parts[0] != 2 && parts[0] != 3) return std::nullopt;
    return PythonVersion{parts[0], parts[1], parts[2]};
}

// Where in .bss the version text of each build was found (by build id): cores of the same
// build hold it at the same place, and a pipeline worker sees many of them. Only a hint: the
// text there is parsed again, and the scan runs when it does not parse.
class BssHints {
  public:
    std::optional<uint64_t> find(const std::string& build_id) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = offsets_.find(build_id);
        if (it == offsets_.end()) return std::nullopt;
        return it->second;
    }
    void remember(const std::string& build_id, uint64_t offset) {
        if (build_id.empty()) return;
        std::lock_guard<std::mutex> lock(mutex_);
        if (offsets_.size() >= kMaxHints) offsets_.clear();
        offsets_[build_id] = offset;
    }

  private:
    std::mutex mutex_;
    std::unordered_map<std::string, uint64_t> offsets_;
};

BssHints& bssHints() {
    static BssHints hints;
    return hints;
}

// The version text at `offset` into .bss (which starts at `start`), if it begins there: at the
// start of .bss or after a NUL, as the static buffer Py_GetVersion() fills.
std::optional<PythonVersion> versionAt(const Memory& memory, uint64_t start, uint64_t offset) {
    char text[65];
    size_t skip = offset == 0 ? 0 : 1;
    size_t got = memory.readSome(start + offset - skip, text, sizeof(text));
    if (got <= skip || (skip == 1 && text[0] != '\0')) return std::nullopt;
    return parseVersionString(text + skip, text + got);
}

std::optional<PythonVersion> fromBss(const Module& m, const Memory& memory) {
    const ElfFile* elf = m.file();
    if (elf == nullptr) return std::nullopt;
    auto bss = elf->section(".bss");
    if (!bss || bss->size == 0) return std::nullopt;
    uint64_t start = m.loadBias() + bss->addr;
    uint64_t size = std::min(bss->size, kMaxBssScan);
    if (auto hint = bssHints().find(elf->buildId()); hint && *hint < size) {
        if (auto v = versionAt(memory, start, *hint)) return v;
    }
    std::vector<char> buf(kScanChunk + 64);
    for (uint64_t off = 0; off < size; off += kScanChunk) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(kScanChunk + 64, size - off));
        size_t got = memory.readSome(start + off, buf.data(), want);
        for (size_t i = 0; i + 6 < got && i < kScanChunk; ++i) {
            // The buffer is a static char array: its text starts after a NUL or at its start.
            if ((buf[i] != '2' && buf[i] != '3') || (i > 0 && buf[i - 1] != '\0')) continue;
            auto v = parseVersionString(buf.data() + i, buf.data() + got);
            if (v) {
                bssHints().remember(elf->buildId(), off + i);
                return v;
            }
        }
    }
    return std::nullopt;
}

// "X.Y" at the start of `text` (one digit, a dot, a number that fits an int).
std::optional<PythonVersion> versionPrefix(std::string_view text) {
    if (text.size() < 3 || !std::isdigit(static_cast<unsigned char>(text[0])) || text[1] != '.')
        return std::nullopt;
    auto minor = parseNumber<int>(text.substr(2));
    if (!minor || !std::isdigit(static_cast<unsigned char>(text[2]))) return std::nullopt;
    return PythonVersion{text[0] - '0', *minor, -1};
}

// "libpython3.12.so.1.0" anywhere in the name, or a name starting with "python3.12". Parsed by
// hand: the name comes from the core and may be long enough to exhaust a backtracking regex.
std::optional<PythonVersion> fromFileName(const Module& m) {
    std::string name = baseName(m.name);
    std::string_view view(name);
    for (size_t at = view.find("libpython"); at != std::string_view::npos;
         at = view.find("libpython", at + 1)) {
        if (auto v = versionPrefix(view.substr(at + 9))) return v;
    }
    if (view.rfind("python", 0) == 0) return versionPrefix(view.substr(6));
    return std::nullopt;
}

std::optional<PythonVersion> versionOf(const Module& m, const Memory& memory) {
    const ElfFile* elf = m.file();
    if (auto sym = elf->symbol("Py_Version")) {
        uint64_t hex = 0;
        if (memory.readValue(m.loadBias() + *sym, &hex)) {
            if (auto v = fromHex(hex)) return v;
        }
    }
    if (auto v = fromBss(m, memory)) return v;
    return fromFileName(m);
}

}  // namespace

std::optional<PythonModule> detectPython(const ModuleSet& modules, const Module* executable,
                                         const Memory& memory, std::string* why_not) {
    std::vector<const Module*> candidates;
    for (const auto& m : modules.modules())
        if (isLibpython(m)) candidates.push_back(&m);
    if (executable != nullptr) candidates.push_back(executable);
    bool any_file = false;
    for (const Module* m : candidates) {
        const ElfFile* elf = m->file();
        if (elf == nullptr) continue;
        any_file = true;
        // Every CPython exports Py_GetVersion; a file without it does not hold the interpreter.
        if (!elf->symbol("Py_GetVersion")) continue;
        if (auto v = versionOf(*m, memory)) return PythonModule{m, *v};
    }
    if (candidates.empty() || !any_file) {
        *why_not = candidates.empty() ? "the core maps no executable or libpython"
                                      : "the executable and libpython of the core are not on "
                                        "this machine (try --lib-search-path or --lib-search-root)";
    } else {
        *why_not = "not a Python process: no Python interpreter in " +
                   (executable ? executable->name : std::string("the core"));
    }
    return std::nullopt;
}

}  // namespace triage::cpython
