#include "symbol_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <system_error>

namespace triage {

namespace {

constexpr char kMagic[8] = {'C', 'T', 'S', 'Y', 'M', 'v', '1', '\n'};
constexpr size_t kMaxEntriesPerBuild = 1 << 16;
constexpr size_t kMaxTables = 4096;
constexpr size_t kMaxFramesPerEntry = 256;
constexpr size_t kMaxString = 1 << 16;
constexpr uint64_t kMaxFileBytes = 32ull << 20;
constexpr uint64_t kMaxDirectoryBytes = 256ull << 20;

uint64_t fnv1a(const std::string& data, size_t size) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; ++i) {
        h ^= static_cast<unsigned char>(data[i]);
        h *= 1099511628211ull;
    }
    return h;
}

// Build ids are hex: anything else must not become a file name.
bool validBuildId(const std::string& id) {
    return !id.empty() && id.size() <= 128 &&
           std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(c) != 0; });
}

template <typename T>
void put(std::string* out, T value) {
    out->append(reinterpret_cast<const char*>(&value), sizeof value);
}

void putString(std::string* out, const std::string& s) {
    put<uint32_t>(out, static_cast<uint32_t>(std::min(s.size(), kMaxString)));
    out->append(s, 0, std::min(s.size(), kMaxString));
}

// Bounds-checked reads of a file's bytes: any overrun fails the whole file.
struct Reader {
    const std::string& data;
    size_t at = 0;
    size_t end;
    template <typename T>
    bool get(T* value) {
        if (end - at < sizeof(T)) return false;
        std::memcpy(value, data.data() + at, sizeof(T));
        at += sizeof(T);
        return true;
    }
    bool getString(std::string* s) {
        uint32_t n = 0;
        if (!get(&n) || n > kMaxString || end - at < n) return false;
        s->assign(data, at, n);
        at += n;
        return true;
    }
};

std::string defaultDirectory() {
    if (const char* dir = std::getenv("TRIAGE_SYMBOL_CACHE")) {
        std::string d = dir;
        return d == "off" || d == "0" ? "" : d;
    }
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/')
        return std::string(xdg) + "/coretriage/symbols";
    if (const char* home = std::getenv("HOME"); home && *home == '/')
        return std::string(home) + "/.cache/coretriage/symbols";
    return "";
}

}  // namespace

SymbolCache::SymbolCache(std::string directory) : dir_(std::move(directory)) {}

SymbolCache& SymbolCache::shared() {
    static SymbolCache cache(defaultDirectory());
    return cache;
}

SymbolCache::Table& SymbolCache::table(const std::string& build_id, const std::string& source) {
    auto it = tables_.find(build_id);
    if (it == tables_.end()) {
        if (tables_.size() >= kMaxTables) tables_.clear();  // bounded memory in long workers
        Table t;
        t.source = source;
        if (!load(build_id, &t) || t.source != source) {
            t.entries.clear();
            t.source = source;
        }
        it = tables_.emplace(build_id, std::move(t)).first;
    } else if (it->second.source != source) {
        // The same build id from another file (a stripped copy): start again for this one.
        it->second = Table{source, {}, false};
    }
    return it->second;
}

bool SymbolCache::find(const std::string& build_id, const std::string& source, uint64_t key,
                       CachedFrames* out) {
    if (!validBuildId(build_id)) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    Table& t = table(build_id, source);
    auto it = t.entries.find(key);
    if (it == t.entries.end()) return false;
    *out = it->second;
    return true;
}

void SymbolCache::add(const std::string& build_id, const std::string& source, uint64_t key,
                      const CachedFrames& frames) {
    if (!validBuildId(build_id) || frames.empty() || frames.size() > kMaxFramesPerEntry) return;
    std::lock_guard<std::mutex> lock(mutex_);
    Table& t = table(build_id, source);
    if (t.entries.size() >= kMaxEntriesPerBuild) return;
    if (t.entries.emplace(key, frames).second) t.dirty = true;
}

void SymbolCache::flush() {
    if (dir_.empty()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    bool wrote = false;
    for (auto& [build_id, t] : tables_) {
        if (!t.dirty) continue;
        // Another process may have added entries since this one loaded the file: keep them.
        Table on_disk;
        if (load(build_id, &on_disk) && on_disk.source == t.source) {
            for (auto& [key, frames] : on_disk.entries) {
                if (t.entries.size() >= kMaxEntriesPerBuild) break;
                t.entries.emplace(key, std::move(frames));
            }
        }
        store(build_id, t);
        t.dirty = false;
        wrote = true;
    }
    if (wrote) prune();
}

bool SymbolCache::load(const std::string& build_id, Table* t) const {
    if (dir_.empty()) return false;
    std::ifstream in(dir_ + "/" + build_id, std::ios::binary | std::ios::ate);
    if (!in) return false;
    // Sized by the file, not by the bound: zero-filling a 32 MiB buffer per table loaded (page
    // faults on every page) cost more than the DWARF lookups the cache saves.
    std::streamoff size = in.tellg();
    if (size < 0 || static_cast<uint64_t>(size) > kMaxFileBytes ||
        static_cast<size_t>(size) < sizeof kMagic + 8)
        return false;
    std::string data(static_cast<size_t>(size), '\0');
    in.seekg(0);
    in.read(&data[0], static_cast<std::streamsize>(data.size()));
    if (static_cast<size_t>(in.gcount()) != data.size()) return false;
    size_t body = data.size() - 8;
    uint64_t sum = 0;
    std::memcpy(&sum, data.data() + body, 8);
    if (std::memcmp(data.data(), kMagic, sizeof kMagic) != 0 || sum != fnv1a(data, body))
        return false;
    Reader r{data, sizeof kMagic, body};
    std::string id;
    uint32_t count = 0;
    if (!r.getString(&id) || id != build_id || !r.getString(&t->source) || !r.get(&count) ||
        count > kMaxEntriesPerBuild)
        return false;
    for (uint32_t i = 0; i < count; ++i) {
        uint64_t key = 0;
        uint32_t n = 0;
        if (!r.get(&key) || !r.get(&n) || n == 0 || n > kMaxFramesPerEntry) return false;
        CachedFrames frames(n);
        for (auto& f : frames) {
            int32_t line = 0, column = 0;
            uint8_t inlined = 0;
            if (!r.get(&line) || !r.get(&column) || !r.get(&inlined) || !r.getString(&f.function) ||
                !r.getString(&f.file))
                return false;
            f.line = line;
            f.column = column;
            f.inlined = inlined != 0;
        }
        t->entries.emplace(key, std::move(frames));
    }
    return r.at == body;
}

void SymbolCache::store(const std::string& build_id, const Table& t) const {
    std::string data(kMagic, sizeof kMagic);
    putString(&data, build_id);
    putString(&data, t.source);
    put<uint32_t>(&data, static_cast<uint32_t>(t.entries.size()));
    for (const auto& [key, frames] : t.entries) {
        put<uint64_t>(&data, key);
        put<uint32_t>(&data, static_cast<uint32_t>(frames.size()));
        for (const auto& f : frames) {
            put<int32_t>(&data, f.line);
            put<int32_t>(&data, f.column);
            put<uint8_t>(&data, f.inlined ? 1 : 0);
            putString(&data, f.function);
            putString(&data, f.file);
        }
    }
    put<uint64_t>(&data, fnv1a(data, data.size()));
    if (data.size() > kMaxFileBytes) return;
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    // A name of its own per writer, renamed over the old file in one step: readers see the old
    // file or the new one, never a part.
    std::random_device random;
    std::string tmp = dir_ + "/." + build_id + "." + std::to_string(::getpid()) + "." +
                      std::to_string(random()) + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return;
        out.write(data.data(), static_cast<std::streamsize>(data.size()));
        if (!out) {
            out.close();
            std::filesystem::remove(tmp, ec);
            return;
        }
    }
    std::filesystem::rename(tmp, dir_ + "/" + build_id, ec);
    if (ec) std::filesystem::remove(tmp, ec);
}

// Keeps the directory under its budget: the least recently written files go first.
void SymbolCache::prune() const {
    std::error_code ec;
    std::vector<std::pair<std::filesystem::file_time_type, std::filesystem::path>> files;
    uint64_t total = 0;
    for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end;
         it.increment(ec)) {
        std::error_code e;
        if (!it->is_regular_file(e)) continue;
        uint64_t size = it->file_size(e);
        if (e) continue;
        total += size;
        files.emplace_back(it->last_write_time(e), it->path());
    }
    if (total <= kMaxDirectoryBytes) return;
    std::sort(files.begin(), files.end());
    for (const auto& [when, path] : files) {
        if (total <= kMaxDirectoryBytes * 3 / 4) break;
        std::error_code e;
        uint64_t size = std::filesystem::file_size(path, e);
        if (!e && std::filesystem::remove(path, e)) total -= size;
    }
}

}  // namespace triage
