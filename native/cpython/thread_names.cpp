#include "cpython/thread_names.h"

namespace triage::cpython {

namespace {

// tp_flags of 3.11+ (Include/object.h): attributes kept by the interpreter, not a dict slot.
constexpr uint64_t kInlineValues = 1ull << 2;  // 3.13
constexpr uint64_t kManagedDict = 1ull << 4;
constexpr uint64_t kHeapType = 1ull << 9;  // only heap types have ht_cached_keys
// Before the object (the pre-header), from -32: the 3.11 values pointer, then the dict (3.11,
// 3.13) or the tagged dict-or-values word (3.12: the values pointer minus one, so odd).
constexpr int64_t kPreValues = -32;
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

uint64_t ThreadNameReader::splitValue(uint64_t keys, uint64_t values, const char* name) const {
    // Every instance of a class shares its keys: the name's index is looked up once per keys.
    auto it = key_index_.find(keys);
    if (it == key_index_.end())
        it = key_index_.emplace(keys, objects_.keyIndex(keys, name, kMaxAttributes)).first;
    uint64_t value = 0;
    if (!it->second ||
        !mem_.readPointer(values + layout_.dict_values_header + *it->second * 8, &value))
        return 0;
    return value;
}

uint64_t ThreadNameReader::inDict(uint64_t dict, const char* name) const {
    if (dict == 0) return 0;
    // PyObject_HEAD, then (3.6+) ma_used, ma_version_tag, ma_keys, ma_values: one read.
    uint64_t head[6] = {};
    constexpr int64_t kHead = sizeof head;
    if (layout_.dict_keys + 8 > kHead || layout_.dict_values + 8 > kHead ||
        !mem_.read(dict, head, sizeof head))
        return 0;
    auto flags = objects_.typeFlags(head[layout_.ob_type / 8]);
    if (!flags || (*flags & kDictSubclass) == 0) return 0;
    uint64_t keys = head[layout_.dict_keys / 8], values = head[layout_.dict_values / 8];
    if (layout_.dict_format != DictFormat::OpenAddressing27 && values != 0 && keys != 0)
        return splitValue(keys, values, name);  // a split table: the class's shared keys
    bool failed = false;
    return lookup(dict, name, kMaxAttributes, &failed);
}

uint64_t ThreadNameReader::attribute(uint64_t obj, const char* name) const {
    uint64_t type = objects_.typeOf(obj);
    auto flags = objects_.typeFlags(type);
    if (!flags) return 0;
    // Shared keys (the type's cached keys) with this object's own values.
    auto inValues = [&](uint64_t values) -> uint64_t {
        if (values == 0 || (*flags & kHeapType) == 0 || layout_.ht_cached_keys < 0) return 0;
        auto it = cached_keys_.find(type);
        if (it == cached_keys_.end()) {
            uint64_t keys = 0;
            if (!mem_.readPointer(type + layout_.ht_cached_keys, &keys)) keys = 0;
            it = cached_keys_.emplace(type, keys).first;
        }
        return it->second == 0 ? 0 : splitValue(it->second, values, name);
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
        return inDict(dict, name);
    }
    // The pre-header: 3.11 values then dict; 3.12 the tagged word; 3.13 the dict.
    uint64_t pre[2] = {0, 0};
    if (!mem_.read(obj + kPreValues, pre, sizeof pre)) return 0;
    uint64_t word = pre[1];
    switch (layout_.instance_dict) {
        case InstanceDict::ManagedSplit:
            // The values until something asks for __dict__, then a dict (values pointer NULL).
            return pre[0] != 0 ? inValues(pre[0]) : inDict(word, name);
        case InstanceDict::DictOrValues:
            return (word & 1) != 0 ? inValues(word + 1) : inDict(word, name);
        case InstanceDict::InlineValues: {
            // A dict, once made, owns the values (it may point at the inline ones).
            if (word != 0) return inDict(word, name);
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

void nameThreads(const Memory& memory, const Layout& layout, std::vector<PyThreadInfo>* threads,
                 std::vector<std::string>* warnings) {
    std::unordered_map<uint64_t, std::unordered_set<uint64_t>> idents;  // interp → idents
    for (const auto& t : *threads)
        if (t.interp != 0 && t.thread_ident != 0) idents[t.interp].insert(t.thread_ident);
    ObjectReader objects(memory, layout);
    for (const auto& [interp, wanted] : idents) {
        auto names = ThreadNameReader(memory, layout, objects).names(interp, wanted, warnings);
        for (auto& t : *threads) {
            if (t.interp != interp) continue;
            auto it = names.find(t.thread_ident);
            if (it != names.end()) t.python_name = it->second;
        }
    }
}

}  // namespace triage::cpython
