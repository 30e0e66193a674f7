#include "cpython/thread_names.h"

namespace triage::cpython {

namespace {

// tp_flags of 3.11+ (Include/object.h): attributes kept by the interpreter, not a dict slot.
constexpr uint64_t kInlineValues = 1ull << 2;  // 3.13
constexpr uint64_t kManagedDict = 1ull << 4;
constexpr uint64_t kHeapType = 1ull << 9;  // only heap types have ht_cached_keys
// Before the object (the pre-header): 3.11 values pointer, and the dict (3.11, 3.13) or the
// tagged dict-or-values word (3.12: the values pointer minus one, so odd).
constexpr int64_t kPreValues = -32, kPreDict = -24;
// 3.13 PyDictValues: {capacity, size, embedded, valid} bytes before the values.
constexpr int64_t kValuesValid = 3;

// How much of each table is looked at: sys.modules of a big service holds a few thousand
// entries, a Thread's attributes a dozen; more is a corrupted size.
constexpr uint64_t kMaxModules = 1 << 16;
constexpr uint64_t kMaxModuleDict = 4096;
constexpr uint64_t kMaxActive = 1 << 16;
constexpr uint64_t kMaxAttributes = 256;
constexpr size_t kMaxNameChars = 1024;

}  // namespace

uint64_t ThreadNameReader::lookup(uint64_t dict, const char* name, uint64_t max_slots,
                                  bool* failed) const {
    auto flags = objects_.typeFlags(objects_.typeOf(dict));
    if (!flags || (*flags & kDictSubclass) == 0) {
        *failed = true;
        return 0;
    }
    uint64_t found = 0;
    TableWalk walked = objects_.dictItems(dict, max_slots, [&](uint64_t key, uint64_t value) {
        if (!objects_.textEquals(key, name)) return true;
        found = value;
        return false;
    });
    if (walked == TableWalk::Failed) *failed = true;
    return found;
}

uint64_t ThreadNameReader::attribute(uint64_t obj, const char* name) const {
    uint64_t type = objects_.typeOf(obj);
    auto flags = objects_.typeFlags(type);
    if (!flags) return 0;
    bool failed = false;
    auto inDict = [&](uint64_t dict) {
        return dict == 0 ? 0 : lookup(dict, name, kMaxAttributes, &failed);
    };
    // Shared keys (the type's) with this object's own values.
    auto inValues = [&](uint64_t values) -> uint64_t {
        uint64_t keys = 0;
        if (values == 0 || (*flags & kHeapType) == 0 || layout_.ht_cached_keys < 0 ||
            !mem_.readPointer(type + layout_.ht_cached_keys, &keys) || keys == 0)
            return 0;
        uint64_t found = 0;
        objects_.keysItems(keys, values, kMaxAttributes, [&](uint64_t key, uint64_t value) {
            if (!objects_.textEquals(key, name)) return true;
            found = value;
            return false;
        });
        return found;
    };
    bool managed = (*flags & kManagedDict) != 0;
    if (layout_.instance_dict == InstanceDict::DictOffset || !managed) {
        // Positive offsets only: a negative one counts from the end of a variable-size object,
        // which a Thread is not.
        int64_t offset = 0;
        uint64_t dict = 0;
        if (!mem_.readValue(type + layout_.tp_dictoffset, &offset) || offset <= 0 ||
            offset > (1 << 16) || !mem_.readPointer(obj + offset, &dict))
            return 0;
        return inDict(dict);
    }
    uint64_t word = 0;
    if (!mem_.readPointer(obj + kPreDict, &word)) return 0;
    switch (layout_.instance_dict) {
        case InstanceDict::ManagedSplit: {
            // The values until something asks for __dict__, then a dict (values pointer NULL).
            uint64_t values = 0;
            if (!mem_.readPointer(obj + kPreValues, &values)) return 0;
            return values != 0 ? inValues(values) : inDict(word);
        }
        case InstanceDict::DictOrValues:
            return (word & 1) != 0 ? inValues(word + 1) : inDict(word);
        case InstanceDict::InlineValues: {
            // A dict, once made, owns the values (it may point at the inline ones).
            if (word != 0) return inDict(word);
            int64_t basicsize = 0;
            uint8_t valid = 0;
            if ((*flags & kInlineValues) == 0 ||
                !mem_.readValue(type + layout_.tp_basicsize, &basicsize) || basicsize <= 0 ||
                basicsize > (1 << 16))
                return 0;
            uint64_t values = obj + static_cast<uint64_t>(basicsize);
            if (!mem_.readValue(values + kValuesValid, &valid) || valid == 0) return 0;
            return inValues(values);
        }
        case InstanceDict::DictOffset:
            break;
    }
    return 0;
}

std::unordered_map<uint64_t, std::string> ThreadNameReader::names(
    uint64_t interp, const std::unordered_set<uint64_t>& wanted,
    std::vector<std::string>* warnings) const {
    std::unordered_map<uint64_t, std::string> out;
    uint64_t modules = 0;
    if (wanted.empty() || layout_.is_modules < 0 ||
        !mem_.readPointer(interp + layout_.is_modules, &modules) || modules == 0)
        return out;  // not yet (or no longer) set up: nothing to say
    bool failed = false;
    uint64_t threading = lookup(modules, "threading", kMaxModules, &failed);
    uint64_t module_dict = 0, active = 0;
    if (threading != 0 && mem_.readPointer(threading + layout_.module_dict, &module_dict))
        active = lookup(module_dict, "_active", kMaxModuleDict, &failed);
    if (active != 0) {
        auto flags = objects_.typeFlags(objects_.typeOf(active));
        failed |= !flags || (*flags & kDictSubclass) == 0;
    }
    if (active != 0 && !failed) {
        TableWalk walked = objects_.dictItems(active, kMaxActive, [&](uint64_t key, uint64_t th) {
            auto ident = objects_.readUnsigned(key);
            if (!ident || wanted.count(*ident) == 0 || out.count(*ident) != 0) return true;
            uint64_t name = attribute(th, layout_.thread_name_attr);
            auto text = name != 0 ? objects_.readText(name, kMaxNameChars) : std::nullopt;
            if (text) out.emplace(*ident, std::move(*text));
            return out.size() < wanted.size();
        });
        failed = walked == TableWalk::Failed;
    }
    if (failed)
        warnings->push_back("threading names: the threading module's tables are unreadable");
    return out;
}

}  // namespace triage::cpython
