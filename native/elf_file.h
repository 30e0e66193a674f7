// An ELF file on disk (executable, shared library): symbols, sections, load segments, build id.
// Backed by a memory map; libelf parses headers, every table access is bounds checked by it.
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mapped_file.h"

namespace triage {

struct LoadSegment {
    uint64_t vaddr = 0;
    uint64_t memsz = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
    uint32_t flags = 0;
};

struct SectionInfo {
    uint64_t addr = 0;  // link-time virtual address
    uint64_t size = 0;
};

class ElfFile {
  public:
    // Opens `path`; nullptr with `error` set when it is missing or not an ELF file.
    static std::unique_ptr<ElfFile> open(const std::string& path, std::string* error);
    // The same, shared across analyses in this process while the file at `path` keeps its
    // identity (device, inode, size, modification time): a pipeline worker analyzing many cores
    // of the same programs maps, parses and indexes each library once. Bounded; thread-safe.
    static std::shared_ptr<const ElfFile> shared(const std::string& path, std::string* error);
    ~ElfFile();
    ElfFile(const ElfFile&) = delete;
    ElfFile& operator=(const ElfFile&) = delete;

    const std::string& path() const { return path_; }
    const MappedFile& file() const { return *file_; }
    bool isExecutable() const { return type_ == ET_EXEC; }
    const std::vector<LoadSegment>& loadSegments() const { return segments_; }

    // Link-time value of a data or function symbol from .symtab, else .dynsym.
    std::optional<uint64_t> symbol(const std::string& name) const;
    // Link-time [start, end) of every function whose name, without compiler clone suffixes
    // (".constprop.0", ".lto_priv.0", ".cold"), is one of `names`.
    std::vector<std::pair<uint64_t, uint64_t>> functionRanges(
        const std::vector<std::string>& names) const;
    std::optional<SectionInfo> section(const std::string& name) const;
    // Hex GNU build id, empty when the file has none.
    const std::string& buildId() const { return build_id_; }

    // Copies bytes of the file that back link-time address `vaddr` (through the PT_LOAD table):
    // how the core reader fills in memory the kernel did not dump. Returns bytes copied.
    size_t readAtVaddr(uint64_t vaddr, void* buf, size_t len) const;

    // Lowest PT_LOAD address rounded down to its page: the load bias is `mapped start - this`.
    uint64_t firstLoadAddress() const;

  private:
    ElfFile() = default;
    void indexSymbols() const;
    void indexSections() const;
    void readBuildId();

    std::string path_;
    std::unique_ptr<MappedFile> file_;
    Elf* elf_ = nullptr;
    int type_ = 0;
    std::vector<LoadSegment> segments_;
    std::string build_id_;
    // Indexed on first use, once (a shared file may be read by analyses in several threads;
    // libelf's lazily filled structures are touched under elf_mutex_ only).
    mutable std::mutex elf_mutex_;
    mutable std::once_flag symbols_once_, sections_once_;
    struct Symbol {
        uint64_t value, size;
        bool function;
    };
    // Names are views into the file's string tables, which live as long as elf_: indexing a
    // libpython's ~15,000 symbols allocated a string per symbol, the most of a fresh analysis.
    mutable std::unordered_map<std::string_view, Symbol> symbols_;
    // Function symbols with a size, sorted by name without clone suffixes: [start, end) of each.
    struct FunctionRange {
        std::string_view base;
        uint64_t start, end;
    };
    static bool byBase(const FunctionRange& a, const FunctionRange& b) { return a.base < b.base; }
    mutable std::vector<FunctionRange> functions_;
    mutable std::unordered_map<std::string, SectionInfo> sections_;
};

// Parses the notes in [data, data+size) and returns the hex GNU build id found there, if any.
std::string findBuildIdInNotes(const unsigned char* data, size_t size);

}  // namespace triage
