#include "cpython/code_ranges.h"

#include <cstring>
#include <optional>

#include "cpython/stack_scan.h"

namespace triage::cpython {

namespace {

constexpr size_t kMaxCallerBytes = 4096;

// [addr, start of the next function) when a function starts exactly at link-time `addr`,
// from the binary search table of .eh_frame_hdr (kept by strip: unwinding needs it). Only the
// table encoding every toolchain emits (4-byte offsets from the header) is understood.
std::optional<std::pair<uint64_t, uint64_t>> functionAt(const ElfFile& elf, uint64_t addr) {
    constexpr uint8_t kDatarelSdata4 = 0x3b, kUdata4 = 0x03;
    auto hdr = elf.section(".eh_frame_hdr");
    if (!hdr || hdr->size < 12 || hdr->size > (64u << 20)) return std::nullopt;
    std::vector<unsigned char> bytes(hdr->size);
    if (elf.readAtVaddr(hdr->addr, bytes.data(), bytes.size()) != bytes.size()) return std::nullopt;
    if (bytes[0] != 1 || bytes[2] != kUdata4 || bytes[3] != kDatarelSdata4) return std::nullopt;
    uint32_t count = 0;
    std::memcpy(&count, &bytes[8], 4);
    if (count == 0 || 12 + uint64_t{count} * 8 > bytes.size()) return std::nullopt;
    auto startOf = [&](uint32_t i) {
        int32_t rel = 0;
        std::memcpy(&rel, &bytes[12 + size_t{i} * 8], 4);
        return hdr->addr + static_cast<int64_t>(rel);
    };
    uint32_t lo = 0, hi = count;  // first entry starting at or after addr
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (startOf(mid) < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo >= count || startOf(lo) != addr || lo + 1 >= count) return std::nullopt;
    uint64_t next = startOf(lo + 1);
    if (next <= addr) return std::nullopt;
    return std::make_pair(addr, next);
}

bool isWaitLibrary(const std::string& path) {
    const char* base = std::strrchr(path.c_str(), '/');
    base = base ? base + 1 : path.c_str();
    for (const char* prefix : {"libc.so", "libc-", "libpthread", "ld-linux", "ld-musl"})
        if (std::strncmp(base, prefix, std::strlen(prefix)) == 0) return true;
    return false;
}

}  // namespace

CodeRanges calledFirst(const ElfFile& elf, const std::vector<std::string>& callers_names,
                       uint64_t load_bias) {
    CodeRanges out;
#if defined(__x86_64__)
    auto callers = elf.functionRanges(callers_names);
    for (const auto& [start, end] : callers) {
        std::vector<unsigned char> code(std::min<uint64_t>(end - start, kMaxCallerBytes));
        code.resize(elf.readAtVaddr(start, code.data(), code.size()));
        // E8 rel32. Without decoding every instruction an E8 byte may be inside another one,
        // so a target counts only if an unwind table entry starts exactly there.
        for (size_t i = 0; i + 5 <= code.size(); ++i) {
            if (code[i] != 0xE8) continue;
            int32_t rel = 0;
            std::memcpy(&rel, &code[i + 1], sizeof rel);
            uint64_t target = start + i + 5 + static_cast<int64_t>(rel);
            if (auto range = functionAt(elf, target)) {
                out.emplace_back(range->first + load_bias, range->second + load_bias);
                break;
            }
        }
    }
#else
    (void)elf;
    (void)callers_names;
    (void)load_bias;
#endif
    return out;
}

CodeRanges waitCode(const ModuleSet& modules) {
    CodeRanges out;
    for (const auto& m : modules.modules())
        if (isWaitLibrary(m.name)) out.emplace_back(m.start, m.end);
    return out;
}

}  // namespace triage::cpython
