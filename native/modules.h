// The files a core had mapped (executable, libraries): where they are on this machine, their
// load addresses, and their bytes for the memory the kernel did not put in the core.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "corefile.h"
#include "elf_file.h"
#include "memory.h"

namespace triage {

struct LibrarySearch {
    std::vector<std::string> paths;  // directories searched by file name
    std::string root;                // searched recursively, build-id match preferred
    std::string sysroot;             // live processes: /proc/PID/root, the process's own files
};

struct Module {
    std::string name;      // path recorded in the core
    std::string resolved;  // path opened on this machine; empty when not found
    uint64_t start = 0, end = 0;
    uint64_t base = 0;          // address of the mapping at file offset 0
    std::string core_build_id;  // from the ELF notes in the core's memory, if dumped
    std::vector<FileMapping> ranges;
    mutable std::shared_ptr<const ElfFile> elf;  // opened on first use (ElfFile::shared)
    mutable bool open_failed = false;

    // The ELF file on disk, or nullptr when it is missing or not ELF.
    const ElfFile* file() const;
    // Run-time address of a link-time address in this module.
    uint64_t loadBias() const;
};

class ModuleSet : public Memory {
  public:
    // `core_memory` must read the core's own bytes only (no fallback), for build ids.
    ModuleSet(const std::vector<FileMapping>& mappings, const Memory& core_memory,
              const LibrarySearch& search);

    size_t readSome(uint64_t addr, void* buf, size_t len) const override;

    const std::vector<Module>& modules() const { return modules_; }
    const Module* moduleAt(uint64_t addr) const;
    // Replaces the file used for the module mapped at `addr` (the user named the executable).
    void overridePath(uint64_t addr, const std::string& path);
    // Recorded paths of ELF modules that could not be found on this machine.
    std::vector<std::string> missing() const;
    const std::vector<std::string>& warnings() const { return warnings_; }

  private:
    std::string resolve(Module& m);
    std::string searchRoot(const std::string& base_name, const std::string& build_id);

    std::vector<Module> modules_;
    std::vector<std::pair<FileMapping, size_t>> ranges_;  // sorted by start; index of module
    LibrarySearch search_;
    bool root_indexed_ = false;
    std::unordered_map<std::string, std::vector<std::string>> root_index_;
    std::vector<std::string> warnings_;
};

// Build id of the ELF image mapped at `base`, read from the target's memory (empty if absent).
std::string buildIdFromMemory(const Memory& memory, uint64_t base);

}  // namespace triage
