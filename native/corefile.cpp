#include "corefile.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <sys/procfs.h>
#include <sys/user.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "errors.h"

namespace triage {

namespace {

#if defined(__x86_64__)
constexpr int kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr int kHostMachine = EM_AARCH64;
#else
constexpr int kHostMachine = EM_NONE;
#endif

// Decompressed cores beyond this are refused: a bomb must not fill memory.
constexpr uint64_t kMaxDecompressed = uint64_t{64} << 30;
constexpr size_t kMaxFileNoteEntries = 1 << 20;

size_t align4(size_t n) {
    return (n + 3) & ~size_t{3};
}

// Copies a note descriptor into a fixed struct; a short descriptor leaves the rest zero.
template <typename T>
T copyDesc(const unsigned char* desc, size_t size) {
    T out;
    std::memset(&out, 0, sizeof out);
    std::memcpy(&out, desc, std::min(size, sizeof out));
    return out;
}

std::string fixedString(const char* p, size_t n) {
    return std::string(p, strnlen(p, n));
}

bool isFaultSignal(int signo) {
    return signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE;
}

}  // namespace

uint64_t CoreThread::stackPointer() const {
#if defined(__x86_64__)
    constexpr size_t kSp = offsetof(struct user_regs_struct, rsp) / sizeof(uint64_t);
#elif defined(__aarch64__)
    constexpr size_t kSp = offsetof(struct user_regs_struct, sp) / sizeof(uint64_t);
#endif
    return kSp < registers.size() ? registers[kSp] : 0;
}

std::unique_ptr<CoreFile> CoreFile::open(const std::string& path) {
    OpenedCore opened = openCoreFile(path, kMaxDecompressed);
    std::string error;
    std::unique_ptr<CoreFile> core(new CoreFile());
    core->file_ = MappedFile::fromFd(opened.fd, &error);
    ::close(opened.fd);
    if (!core->file_) throw CoreFileError("cannot read " + path + ": " + error);
    core->compression_ = opened.compression;
    core->parseHeaders(path);
    return core;
}

void CoreFile::parseHeaders(const std::string& path) {
    const unsigned char* data = file_->data();
    uint64_t size = file_->size();
    if (size == 0) throw CoreFileError(path + " is empty");
    if (size < EI_NIDENT || std::memcmp(data, ELFMAG, SELFMAG) != 0)
        throw CoreFileError(path + " is not an ELF core file");
    if (data[EI_CLASS] != ELFCLASS64 || data[EI_DATA] != ELFDATA2LSB)
        throw CoreFileError(path + ": only 64-bit little-endian cores are supported");
    if (size < sizeof(Elf64_Ehdr)) throw CoreFileError(path + " is truncated (no ELF header)");
    Elf64_Ehdr ehdr;
    std::memcpy(&ehdr, data, sizeof ehdr);
    if (ehdr.e_type != ET_CORE) throw CoreFileError(path + " is an ELF file but not a core dump");
    if (ehdr.e_machine != kHostMachine)
        throw CoreFileError(path + ": core of another CPU architecture (e_machine " +
                            std::to_string(ehdr.e_machine) + ")");
    if (ehdr.e_phentsize != sizeof(Elf64_Phdr) || ehdr.e_phnum == 0)
        throw CoreFileError(path + ": core has no program headers");
    uint64_t ph_end = ehdr.e_phoff + uint64_t{ehdr.e_phnum} * sizeof(Elf64_Phdr);
    if (ehdr.e_phoff > size || ph_end > size)
        throw CoreFileError(path + " is truncated (program headers missing)");

    uint64_t expected_size = ph_end;
    bool have_notes = false;
    for (unsigned i = 0; i < ehdr.e_phnum; ++i) {
        Elf64_Phdr ph;
        std::memcpy(&ph, data + ehdr.e_phoff + i * sizeof(Elf64_Phdr), sizeof ph);
        if (ph.p_offset <= UINT64_MAX - ph.p_filesz)
            expected_size = std::max(expected_size, ph.p_offset + ph.p_filesz);
        if (ph.p_type == PT_LOAD) {
            segments_.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz});
        } else if (ph.p_type == PT_NOTE) {
            if (ph.p_offset >= size) continue;
            uint64_t avail = std::min<uint64_t>(ph.p_filesz, size - ph.p_offset);
            parseNotes(data + ph.p_offset, static_cast<size_t>(avail));
            have_notes = true;
        }
    }
    if (!have_notes || threads_.empty()) {
        if (expected_size > size)
            throw CoreFileError(path + " is truncated (" + std::to_string(size) + " of " +
                                std::to_string(expected_size) +
                                " bytes) and the part left has no thread status");
        throw CoreFileError(path + " is damaged: no thread status in its notes");
    }
    if (expected_size > size) {
        warnings_.push_back("core file is truncated: " + std::to_string(size) + " of " +
                            std::to_string(expected_size) +
                            " bytes present; memory past the end is unreadable");
    }
    std::sort(segments_.begin(), segments_.end(),
              [](const Segment& a, const Segment& b) { return a.vaddr < b.vaddr; });
}

void CoreFile::parseNotes(const unsigned char* data, size_t size) {
    size_t pos = 0;
    while (pos + sizeof(Elf64_Nhdr) <= size) {
        Elf64_Nhdr nh;
        std::memcpy(&nh, data + pos, sizeof nh);
        size_t name_at = pos + sizeof nh;
        if (nh.n_namesz > size || nh.n_descsz > size) break;
        size_t desc_at = name_at + align4(nh.n_namesz);
        size_t next = desc_at + align4(nh.n_descsz);
        if (desc_at > size || desc_at + nh.n_descsz > size) break;
        const unsigned char* desc = data + desc_at;
        size_t dsize = nh.n_descsz;
        bool core_note = nh.n_namesz >= 4 && std::memcmp(data + name_at, "CORE", 4) == 0;
        if (core_note && nh.n_type == NT_PRSTATUS) {
            auto st = copyDesc<struct elf_prstatus>(desc, dsize);
            CoreThread t;
            t.tid = st.pr_pid;
            t.signal = st.pr_cursig;
            const uint64_t* regs = reinterpret_cast<const uint64_t*>(&st.pr_reg);
            t.registers.assign(regs, regs + sizeof(st.pr_reg) / sizeof(uint64_t));
            threads_.push_back(std::move(t));
            if (!have_siginfo_ && threads_.size() == 1) {
                signal_.signo = st.pr_info.si_signo;
                signal_.code = st.pr_info.si_code;
                signal_.err = st.pr_info.si_errno;
            }
        } else if (core_note && nh.n_type == NT_PRPSINFO) {
            auto ps = copyDesc<struct elf_prpsinfo>(desc, dsize);
            process_.state = ps.pr_sname;
            process_.zombie = ps.pr_zomb != 0;
            process_.nice = ps.pr_nice;
            process_.uid = ps.pr_uid;
            process_.gid = ps.pr_gid;
            process_.pid = ps.pr_pid;
            process_.ppid = ps.pr_ppid;
            process_.pgrp = ps.pr_pgrp;
            process_.sid = ps.pr_sid;
            process_.fname = fixedString(ps.pr_fname, sizeof ps.pr_fname);
            process_.psargs = fixedString(ps.pr_psargs, sizeof ps.pr_psargs);
        } else if (core_note && nh.n_type == NT_SIGINFO && !have_siginfo_) {
            auto si = copyDesc<siginfo_t>(desc, dsize);
            have_siginfo_ = true;
            signal_.signo = si.si_signo;
            signal_.code = si.si_code;
            signal_.err = si.si_errno;
            if (si.si_code > 0 && isFaultSignal(si.si_signo)) {
                signal_.fault_address = reinterpret_cast<uint64_t>(si.si_addr);
            } else if (si.si_code == SI_USER) {  // kill(2); not tgkill(2) as abort() uses
                signal_.sender_pid = si.si_pid;
                signal_.sender_uid = si.si_uid;
            }
        } else if (core_note && nh.n_type == NT_AUXV) {
            for (size_t i = 0; i + 16 <= dsize; i += 16) {
                uint64_t kv[2];
                std::memcpy(kv, desc + i, 16);
                if (kv[0] == AT_NULL) break;
                auxv_.emplace_back(kv[0], kv[1]);
            }
        } else if (core_note && nh.n_type == NT_FILE) {
            parseFileNote(desc, dsize);
        }
        if (next <= pos) break;
        pos = next;
    }
}

void CoreFile::parseFileNote(const unsigned char* desc, size_t size) {
    if (size < 16) return;
    uint64_t count, page_size;
    std::memcpy(&count, desc, 8);
    std::memcpy(&page_size, desc + 8, 8);
    if (count > kMaxFileNoteEntries || 16 + count * 24 > size) {
        warnings_.push_back("the core's list of mapped files (NT_FILE) is damaged; ignored");
        return;
    }
    const char* names = reinterpret_cast<const char*>(desc + 16 + count * 24);
    const char* names_end = reinterpret_cast<const char*>(desc + size);
    for (uint64_t i = 0; i < count && names < names_end; ++i) {
        uint64_t e[3];
        std::memcpy(e, desc + 16 + i * 24, 24);
        size_t len = strnlen(names, names_end - names);
        FileMapping m{e[0], e[1], e[2] * page_size, std::string(names, len)};
        names += len + 1;
        if (m.end > m.start) mappings_.push_back(std::move(m));
    }
}

std::optional<uint64_t> CoreFile::auxv(uint64_t type) const {
    for (const auto& kv : auxv_)
        if (kv.first == type) return kv.second;
    return std::nullopt;
}

size_t CoreFile::readFromCore(uint64_t addr, void* buf, size_t len, bool* covered) const {
    // The last segment starting at or before addr is the only one that can contain it.
    auto it = std::upper_bound(segments_.begin(), segments_.end(), addr,
                               [](uint64_t a, const Segment& s) { return a < s.vaddr; });
    *covered = false;
    if (it == segments_.begin()) return 0;
    const Segment& seg = *(it - 1);
    uint64_t delta = addr - seg.vaddr;
    if (delta >= seg.memsz) return 0;
    *covered = true;
    if (delta >= seg.filesz) return 0;
    size_t n = static_cast<size_t>(std::min<uint64_t>(len, seg.filesz - delta));
    if (seg.offset > UINT64_MAX - delta) return 0;
    return file_->copy(seg.offset + delta, buf, n);
}

size_t CoreFile::readSome(uint64_t addr, void* buf, size_t len) const {
    auto* out = static_cast<unsigned char*>(buf);
    size_t done = 0;
    while (done < len) {
        uint64_t cur = addr + done;
        if (cur < addr) break;  // wrapped around the address space
        bool covered = false;
        size_t n = readFromCore(cur, out + done, len - done, &covered);
        if (n == 0 && fallback_ != nullptr) {
            // Not dumped: ask the file that was mapped there, but only up to the next byte the
            // core does hold, so dumped (possibly modified) pages always win.
            size_t chunk = len - done;
            auto next = std::upper_bound(segments_.begin(), segments_.end(), cur,
                                         [](uint64_t a, const Segment& s) { return a < s.vaddr; });
            if (next != segments_.end() && next->vaddr - cur < chunk)
                chunk = static_cast<size_t>(next->vaddr - cur);
            n = fallback_->readSome(cur, out + done, chunk);
        }
        if (n == 0) break;
        done += n;
    }
    return done;
}

}  // namespace triage
