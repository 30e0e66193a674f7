// Symbolized native frames (function, source location, inlined calls) by module build id and
// address, kept for the life of the process (a pipeline worker analyzes many cores of the same
// programs) and on disk between runs of the command line: looking up DWARF lines and inlined
// scopes, and inflating compressed debug sections first, is most of a native analysis.
//
// An entry is only used for the same build id and the same symbol source (the file that gave
// the symbols: a stripped copy with the same build id gives other answers). Files on disk are
// bounded, written by write-then-rename (concurrent writers never leave a torn file), and
// checked whole (a corrupt or foreign file is ignored and replaced).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace triage {

struct CachedFrame {
    std::string function;
    std::string file;
    int line = 0;
    int column = 0;
    bool inlined = false;
};
using CachedFrames = std::vector<CachedFrame>;  // innermost first, the function itself last

class SymbolCache {
  public:
    // The process-wide cache. Its directory is $TRIAGE_SYMBOL_CACHE ("off": memory only), else
    // $XDG_CACHE_HOME/coretriage/symbols, else ~/.cache/coretriage/symbols.
    static SymbolCache& shared();

    // `key`: the link-time address looked up, times two, plus one for an activation frame.
    bool find(const std::string& build_id, const std::string& source, uint64_t key,
              CachedFrames* out);
    void add(const std::string& build_id, const std::string& source, uint64_t key,
             const CachedFrames& frames);
    // Writes the tables that gained entries (merged with what other processes wrote meanwhile).
    void flush();

    explicit SymbolCache(std::string directory);

  private:
    struct Table {
        std::string source;
        std::unordered_map<uint64_t, CachedFrames> entries;
        bool dirty = false;
    };
    Table& table(const std::string& build_id, const std::string& source);
    bool load(const std::string& build_id, Table* table) const;
    void store(const std::string& build_id, const Table& table) const;
    void prune() const;

    std::mutex mutex_;
    std::unordered_map<std::string, Table> tables_;  // by build id
    std::string dir_;                                // empty: memory only
};

}  // namespace triage
