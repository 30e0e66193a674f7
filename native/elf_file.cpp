#include "elf_file.h"

#include <algorithm>
#include <cstring>

namespace triage {

namespace {

std::string toHex(const unsigned char* p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

size_t align4(size_t n) {
    return (n + 3) & ~size_t{3};
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

ElfFile::~ElfFile() {
    if (elf_ != nullptr) elf_end(elf_);
}

void ElfFile::indexSymbols() const {
    symbols_indexed_ = true;
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
            for (size_t i = 0; i < count; ++i) {
                GElf_Sym sym;
                if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
                int type = GELF_ST_TYPE(sym.st_info);
                if (sym.st_value == 0 || sym.st_shndx == SHN_UNDEF ||
                    (type != STT_OBJECT && type != STT_FUNC && type != STT_TLS))
                    continue;
                const char* name = elf_strptr(elf_, sh.sh_link, sym.st_name);
                if (name == nullptr || *name == '\0') continue;
                symbols_[name] = Symbol{sym.st_value, sym.st_size, type == STT_FUNC};
            }
        }
    }
}

std::optional<uint64_t> ElfFile::symbol(const std::string& name) const {
    if (!symbols_indexed_) indexSymbols();
    auto it = symbols_.find(name);
    if (it == symbols_.end()) return std::nullopt;
    return it->second.value;
}

std::vector<std::pair<uint64_t, uint64_t>> ElfFile::functionRanges(
    const std::vector<std::string>& names) const {
    if (!symbols_indexed_) indexSymbols();
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (const auto& [name, sym] : symbols_) {
        if (!sym.function || sym.size == 0) continue;
        std::string base = name.substr(0, name.find('.'));
        if (std::find(names.begin(), names.end(), base) != names.end())
            out.emplace_back(sym.value, sym.value + sym.size);
    }
    return out;
}

std::optional<SectionInfo> ElfFile::section(const std::string& name) const {
    size_t shstrndx = 0;
    if (elf_getshdrstrndx(elf_, &shstrndx) != 0) return std::nullopt;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf_, scn)) != nullptr) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr) continue;
        const char* sname = elf_strptr(elf_, shstrndx, sh.sh_name);
        if (sname != nullptr && name == sname) return SectionInfo{sh.sh_addr, sh.sh_size};
    }
    return std::nullopt;
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
