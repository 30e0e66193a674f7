// An ELF core file: memory segments, per-thread status, process info and the files it mapped.
// Parsed once; every read of the core is bounds checked against what the file really holds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "decompress.h"
#include "mapped_file.h"
#include "memory.h"

namespace triage {

struct CoreThread {
    int tid = 0;
    int signal = 0;                   // pr_cursig: the signal that stopped or killed this thread
    std::vector<uint64_t> registers;  // user_regs_struct words, for the native unwinder
    uint64_t stackPointer() const;
};

struct ProcessInfo {
    int pid = 0, ppid = 0, pgrp = 0, sid = 0;
    unsigned uid = 0, gid = 0;
    char state = '?';
    bool zombie = false;
    int nice = 0;
    std::string fname;   // executable name as the kernel knew it (16 chars max)
    std::string psargs;  // command line (80 chars max)
};

struct SignalInfo {
    int signo = 0, code = 0, err = 0;
    std::optional<uint64_t> fault_address;  // for faults (si_code > 0 on SEGV/BUS/ILL/FPE)
    std::optional<int> sender_pid;          // for signals sent by a process (SI_USER)
    std::optional<unsigned> sender_uid;
};

struct FileMapping {
    uint64_t start = 0, end = 0;
    uint64_t file_offset = 0;  // in bytes
    std::string path;
};

class CoreFile : public Memory {
  public:
    // Opens (decompressing if needed) and parses `path`. Throws CoreFileError when the file is
    // not usable as a core.
    static std::unique_ptr<CoreFile> open(const std::string& path);

    size_t readSome(uint64_t addr, void* buf, size_t len) const override;

    // Memory the core does not hold (read-only file-backed pages the kernel left out) is asked
    // of this reader; it is not owned.
    void setFallback(const Memory* fallback) { fallback_ = fallback; }

    const std::vector<CoreThread>& threads() const { return threads_; }
    const ProcessInfo& process() const { return process_; }
    const SignalInfo& signal() const { return signal_; }
    const std::vector<FileMapping>& mappings() const { return mappings_; }
    std::optional<uint64_t> auxv(uint64_t type) const;
    const std::vector<std::pair<uint64_t, uint64_t>>& auxvEntries() const { return auxv_; }
    Compression compression() const { return compression_; }
    const MappedFile& bytes() const { return *file_; }
    const std::vector<std::string>& warnings() const { return warnings_; }

  private:
    struct Segment {
        uint64_t vaddr, memsz, offset, filesz;
    };
    CoreFile() = default;
    void parseHeaders(const std::string& path);
    void parseNotes(const unsigned char* data, size_t size);
    void parseFileNote(const unsigned char* desc, size_t size);
    size_t readFromCore(uint64_t addr, void* buf, size_t len, bool* covered) const;

    std::unique_ptr<MappedFile> file_;
    Compression compression_ = Compression::None;
    std::vector<Segment> segments_;  // sorted by vaddr
    std::vector<CoreThread> threads_;
    ProcessInfo process_;
    SignalInfo signal_;
    bool have_siginfo_ = false;
    std::vector<FileMapping> mappings_;
    std::vector<std::pair<uint64_t, uint64_t>> auxv_;
    std::vector<std::string> warnings_;
    const Memory* fallback_ = nullptr;
};

}  // namespace triage
