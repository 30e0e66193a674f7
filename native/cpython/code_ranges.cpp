#include "cpython/code_ranges.h"

#include <elfutils/libdw.h>
#include <libelf.h>

#include <cstring>

#include "cpython/stack_scan.h"

namespace triage::cpython {

namespace {

constexpr size_t kMaxCallerBytes = 4096;

// [start, end) of the unwind table entry that begins exactly at `addr` (link-time), if any.
std::optional<std::pair<uint64_t, uint64_t>> functionAt(Dwarf_CFI* cfi, uint64_t addr) {
    Dwarf_Frame* frame = nullptr;
    if (cfi == nullptr || dwarf_cfi_addrframe(cfi, addr, &frame) != 0) return std::nullopt;
    Dwarf_Addr start = 0, end = 0;
    bool signal = false;
    int rc = dwarf_frame_info(frame, &start, &end, &signal);
    free(frame);
    if (rc < 0 || start != addr || end <= start) return std::nullopt;
    return std::make_pair(uint64_t{start}, uint64_t{end});
}

bool isWaitLibrary(const std::string& path) {
    const char* base = std::strrchr(path.c_str(), '/');
    base = base ? base + 1 : path.c_str();
    for (const char* prefix : {"libc.so", "libc-", "libpthread", "ld-linux", "ld-musl"})
        if (std::strncmp(base, prefix, std::strlen(prefix)) == 0) return true;
    return false;
}

}  // namespace

CodeRanges collectorFromCallers(const ElfFile& elf, uint64_t load_bias) {
    CodeRanges out;
#if defined(__x86_64__)
    auto callers = elf.functionRanges(kCollectorCallers);
    if (callers.empty()) return out;
    elf_version(EV_CURRENT);
    Elf* image = elf_memory(reinterpret_cast<char*>(const_cast<unsigned char*>(elf.file().data())),
                            elf.file().size());
    if (image == nullptr) return out;
    Dwarf_CFI* cfi = dwarf_getcfi_elf(image);
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
            if (auto range = functionAt(cfi, target)) {
                out.emplace_back(range->first + load_bias, range->second + load_bias);
                break;
            }
        }
    }
    if (cfi != nullptr) dwarf_cfi_end(cfi);
    elf_end(image);
#else
    (void)elf;
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
