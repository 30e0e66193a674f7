#include "modules.h"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

namespace triage {

namespace {

constexpr size_t kMaxRootEntries = 500000;
constexpr size_t kMaxNoteBytes = 4096;

bool isRegularFile(const std::string& path) {
    struct stat st;
    return !path.empty() && stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string baseName(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string fileBuildId(const std::string& path) {
    std::string error;
    auto elf = ElfFile::open(path, &error);
    return elf ? elf->buildId() : std::string();
}

}  // namespace

const ElfFile* Module::file() const {
    if (!elf && !open_failed) {
        std::string error;
        if (!resolved.empty()) elf = ElfFile::shared(resolved, &error);
        open_failed = !elf;
    }
    return elf.get();
}

uint64_t Module::loadBias() const {
    const ElfFile* f = file();
    return base - (f ? f->firstLoadAddress() : 0);
}

std::string buildIdFromMemory(const Memory& memory, uint64_t base) {
    Elf64_Ehdr ehdr;
    if (!memory.readValue(base, &ehdr) || std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG) != 0 ||
        ehdr.e_phentsize != sizeof(Elf64_Phdr) || ehdr.e_phnum > 256)
        return {};
    std::vector<Elf64_Phdr> phdrs(ehdr.e_phnum);
    if (!memory.read(base + ehdr.e_phoff, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr)))
        return {};
    uint64_t first = UINT64_MAX;
    for (const auto& ph : phdrs)
        if (ph.p_type == PT_LOAD) first = std::min(first, ph.p_vaddr & ~uint64_t{4095});
    if (first == UINT64_MAX) return {};
    uint64_t bias = base - first;
    for (const auto& ph : phdrs) {
        if (ph.p_type != PT_NOTE || ph.p_filesz == 0) continue;
        std::vector<unsigned char> notes(std::min<uint64_t>(ph.p_filesz, kMaxNoteBytes));
        if (!memory.read(bias + ph.p_vaddr, notes.data(), notes.size())) continue;
        std::string id = findBuildIdInNotes(notes.data(), notes.size());
        if (!id.empty()) return id;
    }
    return {};
}

ModuleSet::ModuleSet(const std::vector<FileMapping>& mappings, const Memory& core_memory,
                     const LibrarySearch& search)
    : search_(search) {
    std::map<std::string, size_t> by_name;
    for (const auto& m : mappings) {
        auto found = by_name.find(m.path);
        size_t idx;
        if (found == by_name.end()) {
            idx = modules_.size();
            by_name.emplace(m.path, idx);
            modules_.emplace_back();
            modules_.back().name = m.path;
            modules_.back().start = m.start;
            modules_.back().end = m.end;
        } else {
            idx = found->second;
        }
        Module& mod = modules_[idx];
        mod.start = std::min(mod.start, m.start);
        mod.end = std::max(mod.end, m.end);
        if (m.file_offset == 0 && (mod.base == 0 || m.start < mod.base)) mod.base = m.start;
        mod.ranges.push_back(m);
        ranges_.emplace_back(m, idx);
    }
    std::sort(ranges_.begin(), ranges_.end(),
              [](const auto& a, const auto& b) { return a.first.start < b.first.start; });
    for (auto& mod : modules_) {
        if (mod.base != 0) mod.core_build_id = buildIdFromMemory(core_memory, mod.base);
        mod.resolved = resolve(mod);
    }
}

std::string ModuleSet::resolve(Module& m) {
    const std::string& want = m.core_build_id;
    if (!search_.sysroot.empty()) {
        std::string own = search_.sysroot + m.name;
        if (isRegularFile(own)) return own;
    }
    if (isRegularFile(m.name)) {
        if (want.empty()) return m.name;
        // Opened once: kept for the analysis when it is the right build.
        std::string error;
        auto elf = ElfFile::shared(m.name, &error);
        std::string have = elf ? elf->buildId() : std::string();
        if (have.empty() || have == want) {
            m.elf = std::move(elf);
            return m.name;
        }
        // A different build at the recorded path: look for the right one, else use it anyway.
        std::string elsewhere = searchRoot(baseName(m.name), want);
        if (!elsewhere.empty()) return elsewhere;
        warnings_.push_back(m.name + " needed build id " + want + " but found build id " + have);
        return m.name;
    }
    for (const auto& dir : search_.paths) {
        std::string candidate = dir + "/" + baseName(m.name);
        if (isRegularFile(candidate)) return candidate;
    }
    return searchRoot(baseName(m.name), want);
}

std::string ModuleSet::searchRoot(const std::string& base_name, const std::string& build_id) {
    if (search_.root.empty()) return {};
    if (!root_indexed_) {
        root_indexed_ = true;
        namespace fs = std::filesystem;
        std::error_code ec;
        size_t seen = 0;
        fs::recursive_directory_iterator it(search_.root,
                                            fs::directory_options::skip_permission_denied, ec),
            end;
        for (; !ec && it != end && seen < kMaxRootEntries; it.increment(ec), ++seen) {
            std::error_code fec;
            if (it->is_regular_file(fec)) {
                root_index_[it->path().filename().string()].push_back(it->path().string());
            }
        }
        if (seen >= kMaxRootEntries)
            warnings_.push_back("library search root has too many files; search stopped early");
    }
    auto found = root_index_.find(base_name);
    if (found == root_index_.end()) return {};
    if (!build_id.empty()) {
        for (const auto& p : found->second)
            if (fileBuildId(p) == build_id) return p;
    }
    return found->second.front();
}

const Module* ModuleSet::moduleAt(uint64_t addr) const {
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                               [](uint64_t a, const auto& r) { return a < r.first.start; });
    if (it == ranges_.begin()) return nullptr;
    --it;
    if (addr >= it->first.end) return nullptr;
    return &modules_[it->second];
}

void ModuleSet::overridePath(uint64_t addr, const std::string& path) {
    const Module* found = moduleAt(addr);
    if (found == nullptr) return;
    Module& mod = modules_[found - modules_.data()];
    mod.resolved = path;
    mod.elf.reset();
    mod.open_failed = false;
}

std::vector<std::string> ModuleSet::missing() const {
    std::vector<std::string> out;
    for (const auto& mod : modules_)
        if (mod.resolved.empty()) out.push_back(mod.name);
    return out;
}

size_t ModuleSet::readSome(uint64_t addr, void* buf, size_t len) const {
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                               [](uint64_t a, const auto& r) { return a < r.first.start; });
    if (it == ranges_.begin()) return 0;
    --it;
    const FileMapping& range = it->first;
    if (addr >= range.end) return 0;
    const ElfFile* f = modules_[it->second].file();
    if (f == nullptr) return 0;
    size_t n = static_cast<size_t>(std::min<uint64_t>(len, range.end - addr));
    return f->file().copy(range.file_offset + (addr - range.start), buf, n);
}

}  // namespace triage
