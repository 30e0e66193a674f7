#include "elf_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "numbers.h"

namespace triage {

namespace {

size_t align4(size_t n) {
    return (n + 3) & ~size_t{3};
}

// What identifies the file behind a path for the shared cache.
using FileKey = std::tuple<dev_t, ino_t, off_t, int64_t, int64_t>;

bool fileKey(const std::string& path, FileKey* key) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    *key = FileKey{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
    return true;
}

// Bounds of the shared cache: mapped bytes (address space, which a worker's memory limit
// counts) and files. When either is exceeded the cache starts again (analyses in progress
// keep their own references).
constexpr uint64_t kMaxSharedBytes = 1ull << 30;
constexpr size_t kMaxSharedFiles = 256;

struct SharedFiles {
    std::mutex mutex;
    std::map<std::string, std::pair<FileKey, std::shared_ptr<const ElfFile>>> files;
    uint64_t bytes = 0;
};

SharedFiles& sharedFiles() {
    static SharedFiles* cache = new SharedFiles();  // never destroyed: usable until exit
    return *cache;
}

}  // namespace

std::string findBuildIdInNotes(const unsigned char* data, size_t size) {
    size_t pos = 0;
    while (pos + sizeof(Elf64_Nhdr) <= size) {
        Elf64_Nhdr nh;
        std::memcpy(&nh, data + pos, sizeof nh);
        size_t name_at = pos + sizeof nh;
        size_t desc_at = name_at + align4(nh.n_namesz);
        size_t next = desc_at + align4(nh.n_descsz);
        if (desc_at > size || next > size || next <= pos) break;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            std::memcmp(data + name_at, "GNU", 4) == 0) {
            return toHex(data + desc_at, nh.n_descsz);
        }
        pos = next;
    }
    return {};
}

std::unique_ptr<ElfFile> ElfFile::open(const std::string& path, std::string* error) {
    auto file = MappedFile::open(path, error);
    if (!file) return nullptr;
    if (file->size() < EI_NIDENT || std::memcmp(file->data(), ELFMAG, SELFMAG) != 0) {
        *error = "not an ELF file";
        return nullptr;
    }
    elf_version(EV_CURRENT);
    std::unique_ptr<ElfFile> self(new ElfFile());
    self->path_ = path;
    self->elf_ =
        elf_memory(reinterpret_cast<char*>(const_cast<unsigned char*>(file->data())), file->size());
    self->file_ = std::move(file);
    GElf_Ehdr ehdr;
    if (self->elf_ == nullptr || gelf_getehdr(self->elf_, &ehdr) == nullptr) {
        *error = "cannot read the ELF header";
        return nullptr;
    }
    self->type_ = ehdr.e_type;
    size_t phnum = 0;
    if (elf_getphdrnum(self->elf_, &phnum) == 0) {
        for (size_t i = 0; i < phnum; ++i) {
            GElf_Phdr ph;
            if (gelf_getphdr(self->elf_, static_cast<int>(i), &ph) == nullptr) continue;
            if (ph.p_type == PT_LOAD) {
                self->segments_.push_back(
                    {ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags});
            } else if (ph.p_type == PT_NOTE && self->build_id_.empty() &&
                       ph.p_offset < self->file_->size() &&
                       ph.p_filesz <= self->file_->size() - ph.p_offset) {
                self->build_id_ =
                    findBuildIdInNotes(self->file_->data() + ph.p_offset, ph.p_filesz);
            }
        }
    }
    return self;
}

std::shared_ptr<const ElfFile> ElfFile::shared(const std::string& path, std::string* error) {
    FileKey before;
    if (!fileKey(path, &before)) {
        // Missing or not a regular file: open() says why, nothing is cached.
        return std::shared_ptr<const ElfFile>(open(path, error));
    }
    SharedFiles& cache = sharedFiles();
    {
        std::lock_guard<std::mutex> lock(cache.mutex);
        auto it = cache.files.find(path);
        if (it != cache.files.end() && it->second.first == before) return it->second.second;
    }
    std::shared_ptr<const ElfFile> elf(open(path, error));
    FileKey after;
    if (!elf || !fileKey(path, &after) || after != before) return elf;  // changed meanwhile
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.files.find(path);
    if (it != cache.files.end()) {
        cache.bytes -= it->second.second->file().size();
        cache.files.erase(it);
    }
    if (cache.files.size() >= kMaxSharedFiles ||
        cache.bytes + elf->file().size() > kMaxSharedBytes) {
        cache.files.clear();
        cache.bytes = 0;
    }
    cache.files.emplace(path, std::make_pair(before, elf));
    cache.bytes += elf->file().size();
    return elf;
}

ElfFile::~ElfFile() {
    if (elf_ != nullptr) elf_end(elf_);
}

void ElfFile::indexSymbols() const {
    std::lock_guard<std::mutex> lock(elf_mutex_);
    // .dynsym first so that .symtab (the fuller table) wins on duplicates.
    for (Elf64_Word wanted : {SHT_DYNSYM, SHT_SYMTAB}) {
        Elf_Scn* scn = nullptr;
        while ((scn = elf_nextscn(elf_, scn)) != nullptr) {
            GElf_Shdr sh;
            if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != wanted || sh.sh_entsize == 0)
                continue;
            Elf_Data* data = elf_getdata(scn, nullptr);
            if (data == nullptr) continue;
            size_t count = sh.sh_size / sh.sh_entsize;
            symbols_.reserve(symbols_.size() + count);
            for (size_t i = 0; i < count; ++i) {
                GElf_Sym sym;
                if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
                int type = GELF_ST_TYPE(sym.st_info);
                if (sym.st_value == 0 || sym.st_shndx == SHN_UNDEF ||
                    (type != STT_OBJECT && type != STT_FUNC && type != STT_TLS))
                    continue;
                const char* name = elf_strptr(elf_, sh.sh_link, sym.st_name);
                if (name == nullptr || *name == '\0') continue;
                symbols_[std::string_view(name)] =
                    Symbol{sym.st_value, sym.st_size, type == STT_FUNC};
            }
        }
    }
    functions_.reserve(symbols_.size());
    for (const auto& [name, sym] : symbols_) {
        if (!sym.function || sym.size == 0) continue;
        functions_.push_back({name.substr(0, name.find('.')), sym.value, sym.value + sym.size});
    }
    std::sort(functions_.begin(), functions_.end(), byBase);
}

std::optional<uint64_t> ElfFile::symbol(const std::string& name) const {
    std::call_once(symbols_once_, [this] { indexSymbols(); });
    auto it = symbols_.find(std::string_view(name));
    if (it == symbols_.end()) return std::nullopt;
    return it->second.value;
}

std::vector<std::pair<uint64_t, uint64_t>> ElfFile::functionRanges(
    const std::vector<std::string>& names) const {
    std::call_once(symbols_once_, [this] { indexSymbols(); });
    std::vector<std::pair<uint64_t, uint64_t>> out;
    // Each base name once, as a scan of the symbols finds each function once.
    std::vector<std::string> seen;
    for (const auto& name : names) {
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
        seen.push_back(name);
        auto [first, last] = std::equal_range(functions_.begin(), functions_.end(),
                                              FunctionRange{name, 0, 0}, byBase);
        for (auto it = first; it != last; ++it) out.emplace_back(it->start, it->end);
    }
    return out;
}

void ElfFile::indexSections() const {
    std::lock_guard<std::mutex> lock(elf_mutex_);
    size_t shstrndx = 0;
    if (elf_getshdrstrndx(elf_, &shstrndx) != 0) return;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf_, scn)) != nullptr) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr) continue;
        const char* sname = elf_strptr(elf_, shstrndx, sh.sh_name);
        // The first section of a name, as a scan in order finds it.
        if (sname != nullptr) sections_.emplace(sname, SectionInfo{sh.sh_addr, sh.sh_size});
    }
}

std::optional<SectionInfo> ElfFile::section(const std::string& name) const {
    std::call_once(sections_once_, [this] { indexSections(); });
    auto it = sections_.find(name);
    if (it == sections_.end()) return std::nullopt;
    return it->second;
}

size_t ElfFile::readAtVaddr(uint64_t vaddr, void* buf, size_t len) const {
    for (const auto& seg : segments_) {
        if (vaddr < seg.vaddr || vaddr - seg.vaddr >= seg.filesz) continue;
        uint64_t delta = vaddr - seg.vaddr;
        size_t n = static_cast<size_t>(std::min<uint64_t>(len, seg.filesz - delta));
        return file_->copy(seg.offset + delta, buf, n);
    }
    return 0;
}

uint64_t ElfFile::firstLoadAddress() const {
    if (segments_.empty()) return 0;
    uint64_t lowest = segments_.front().vaddr;
    for (const auto& seg : segments_) lowest = std::min(lowest, seg.vaddr);
    return lowest & ~uint64_t{4095};
}

}  // namespace triage
