// Standalone driver of the analyzer, without Python: runs analyzeCore in every mode on each file
// given. Built with the sanitizers (TRIAGE_TOOLS + TRIAGE_SANITIZE) to check that no input, valid
// or corrupt, makes the analyzer read out of bounds, leak or hit undefined behaviour.
//
// Usage: analyze_main [-q] CORE...
// Exit status: 0 when every run ended with a result or one of the analyzer's own errors; 1 when
// a run let another exception escape or returned a string that is not valid UTF-8.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "analysis.h"
#include "errors.h"
#include "utf8.h"

namespace {

struct Mode {
    const char* name;
    bool locals, native, native_all;
};

constexpr Mode kModes[] = {
    {"plain", false, false, false},           {"locals", true, false, false},
    {"native", false, true, false},           {"native-all", false, false, true},
    {"native-all-locals", true, false, true},
};

bool validUtf8(const std::string& text) {
    return triage::sanitizeUtf8(text) == text;
}

// Every string the bindings would convert, checked the way Python would decode it.
std::vector<std::string> invalidStrings(const triage::Analysis& a) {
    std::vector<const std::string*> texts = {&a.core_path, &a.process.fname, &a.process.psargs,
                                             &a.executable};
    if (a.execfn) texts.push_back(&*a.execfn);
    if (a.python_error) texts.push_back(&*a.python_error);
    for (const auto& t : a.argv) texts.push_back(&t);
    for (const auto& t : a.missing_libraries) texts.push_back(&t);
    for (const auto& t : a.warnings) texts.push_back(&t);
    for (const auto& thread : a.threads) {
        for (const auto& t : thread.warnings) texts.push_back(&t);
        if (thread.os_name) texts.push_back(&*thread.os_name);
        if (thread.python_name) texts.push_back(&*thread.python_name);
        for (const auto& f : thread.frames) {
            texts.insert(texts.end(), {&f.file, &f.function});
            if (f.qualname) texts.push_back(&*f.qualname);
            for (const auto* pairs : {&f.arguments, &f.locals})
                for (const auto& [name, repr] : *pairs) texts.insert(texts.end(), {&name, &repr});
        }
        for (const auto& f : thread.native_frames)
            texts.insert(texts.end(), {&f.function, &f.file, &f.library, &f.library_path});
    }
    std::vector<std::string> bad;
    for (const auto* t : texts)
        if (!validUtf8(*t)) bad.push_back(*t);
    return bad;
}

// One analysis; returns false when it revealed a bug (not when the input was merely bad).
bool runOne(const char* path, const Mode& mode, bool quiet) {
    triage::AnalysisOptions options;
    options.locals = mode.locals;
    options.native = mode.native;
    options.native_all = mode.native_all;
    try {
        triage::Analysis a = triage::analyzeCore(path, options);
        auto bad = invalidStrings(a);
        size_t frames = 0;
        for (const auto& t : a.threads) frames += t.frames.size() + t.native_frames.size();
        if (!quiet)
            std::printf("%s [%s]: %zu threads, %zu frames\n", path, mode.name, a.threads.size(),
                        frames);
        for (const auto& b : bad)
            std::printf("%s [%s]: invalid UTF-8 in result: %s\n", path, mode.name,
                        triage::sanitizeUtf8(b).c_str());
        return bad.empty();
    } catch (const triage::CoreFileError& e) {
        if (!quiet) std::printf("%s [%s]: not usable: %s\n", path, mode.name, e.what());
    } catch (const triage::AnalysisError& e) {
        if (!quiet) std::printf("%s [%s]: failed: %s\n", path, mode.name, e.what());
    } catch (const std::exception& e) {
        std::printf("%s [%s]: escaped exception: %s\n", path, mode.name, e.what());
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    bool quiet = false;
    bool ok = true;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "-q") == 0) {
            quiet = true;
            continue;
        }
        for (const Mode& mode : kModes) ok = runOne(argv[i], mode, quiet) && ok;
    }
    return ok ? 0 : 1;
}
