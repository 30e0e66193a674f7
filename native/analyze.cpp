// Analysis end to end, for cores and live processes alike:
// memory source → mapped modules → Python version → interpreter walk.
#include <elf.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <unordered_map>

#include "analysis.h"
#include "corefile.h"
#include "cpython/code_ranges.h"
#include "cpython/debug_offsets.h"
#include "cpython/interpreter.h"
#include "cpython/layout.h"
#include "cpython/stack_scan.h"
#include "cpython/thread_names.h"
#include "cpython/version.h"
#include "errors.h"
#include "modules.h"
#include "process.h"
#include "unwind.h"
#include "utf8.h"

namespace triage {

namespace {

constexpr size_t kMaxPath = 4096;

using Auxv = std::vector<std::pair<uint64_t, uint64_t>>;
using StackPointers = std::unordered_map<int, uint64_t>;

std::optional<uint64_t> auxvValue(const Auxv& auxv, uint64_t type) {
    for (const auto& kv : auxv)
        if (kv.first == type) return kv.second;
    return std::nullopt;
}

// The executable is the mapping that holds the program's entry point (robust to a shebang
// script in AT_EXECFN, and to a PIE loaded anywhere).
const Module* findExecutable(const Auxv& auxv, const ModuleSet& modules) {
    for (uint64_t type : {uint64_t{AT_ENTRY}, uint64_t{AT_PHDR}}) {
        if (auto addr = auxvValue(auxv, type)) {
            if (const Module* m = modules.moduleAt(*addr)) return m;
        }
    }
    return modules.modules().empty() ? nullptr : &modules.modules().front();
}

std::optional<uint64_t> symbolIn(const Module& m, const std::string& name) {
    const ElfFile* elf = m.file();
    if (elf == nullptr) return std::nullopt;
    auto value = elf->symbol(name);
    if (!value) return std::nullopt;
    return m.loadBias() + *value;
}

cpython::RuntimeAddresses runtimeAddresses(const Module& python) {
    cpython::RuntimeAddresses addrs;
    addrs.runtime = symbolIn(python, "_PyRuntime");
    if (!addrs.runtime && python.file() != nullptr) {
        // 3.10+ keeps _PyRuntime in its own section: found even without any symbol table.
        if (auto sec = python.file()->section(".PyRuntime"))
            addrs.runtime = python.loadBias() + sec->addr;
    }
    addrs.interp_head = symbolIn(python, "interp_head");
    addrs.tstate_current = symbolIn(python, "_PyThreadState_Current");
    addrs.gc_collecting = symbolIn(python, "collecting");
    addrs.gil_locked = symbolIn(python, "gil_locked");
    addrs.gil_last_holder = symbolIn(python, "gil_last_holder");
    if (const ElfFile* elf = python.file()) {
        for (const char* name : {".data", ".bss", ".PyRuntime"}) {
            if (auto sec = elf->section(name))
                addrs.scan_ranges.emplace_back(python.loadBias() + sec->addr,
                                               python.loadBias() + sec->addr + sec->size);
        }
    }
    return addrs;
}

// Return-address ranges of the GIL and collector functions, from the interpreter's symbols.
std::unique_ptr<cpython::StackScanner> makeScanner(const Memory& memory, const ModuleSet& modules,
                                                   const Module& python,
                                                   const cpython::Layout& layout) {
    const ElfFile* elf = python.file();
    if (elf == nullptr) return nullptr;
    auto ranges = [&](const std::vector<std::string>& names) {
        auto r = elf->functionRanges(names);
        for (auto& range : r)
            range = {range.first + python.loadBias(), range.second + python.loadBias()};
        return r;
    };
    cpython::StackScanner::Functions f;
    for (const auto& seg : elf->loadSegments()) {
        if (seg.flags & PF_X)
            f.interpreter_text.emplace_back(seg.vaddr + python.loadBias(),
                                            seg.vaddr + seg.memsz + python.loadBias());
    }
    f.take_gil = ranges(cpython::kTakeGilFunctions);
    f.drop_gil = ranges(cpython::kDropGilFunctions);
    f.collector = ranges(cpython::kCollectorFunctions);
    // Without local symbols (a stripped distribution build), through their exported callers.
    if (f.take_gil.empty() && layout.take_gil_caller != nullptr)
        f.take_gil = cpython::calledFirst(*elf, {layout.take_gil_caller}, python.loadBias());
    if (f.collector.empty())
        f.collector = cpython::calledFirst(*elf, cpython::kCollectorCallers, python.loadBias());
    for (const auto& range : ranges(cpython::kCollectorEntryPoints)) f.collector.push_back(range);
    f.lock_acquire = ranges(cpython::kLockAcquireFunctions);
    f.gil_acquirers = ranges(cpython::kGilAcquirerFunctions);
    f.wait_code = cpython::waitCode(modules);
    auto scanner = std::make_unique<cpython::StackScanner>(memory, std::move(f));
    return scanner->usable() ? std::move(scanner) : nullptr;
}

// What the walk needs, found before anything is stopped: version, layout, the interpreter's
// globals and its functions' addresses. Sets python_error (and returns nullopt) when there is
// no Python to walk.
struct PythonPlan {
    cpython::Layout layout;
    cpython::RuntimeAddresses addrs;
    std::unique_ptr<cpython::StackScanner> scanner;
};

std::optional<PythonPlan> planPython(const Memory& memory, const ModuleSet& modules,
                                     const Module* executable, Analysis* out) {
    std::string why_not;
    auto python = cpython::detectPython(modules, executable, memory, &why_not);
    if (!python) {
        out->python_error = why_not;
        return std::nullopt;
    }
    out->python_version = python->version;
    const cpython::Layout* known = cpython::layoutFor(python->version.major, python->version.minor);
    if (known == nullptr) {
        out->python_error = "unsupported Python version " + std::to_string(python->version.major) +
                            "." + std::to_string(python->version.minor);
        return std::nullopt;
    }
    PythonPlan plan{*known, runtimeAddresses(*python->module),
                    makeScanner(memory, modules, *python->module, *known)};
    if (plan.layout.minor >= 13 && plan.addrs.runtime) {
        std::string why;
        if (!cpython::applyDebugOffsets(memory, *plan.addrs.runtime, &plan.layout, &why))
            out->warnings.push_back(why + "; using the offsets of " +
                                    std::to_string(plan.layout.major) + "." +
                                    std::to_string(plan.layout.minor) + ".0");
    }
    return plan;
}

using UnwindThread = std::function<NativeUnwinder::Pcs(int tid)>;
// Threads unwound during the walk (their stack and the unwinder's complaint), reused for the
// native stacks.
using Unwound = std::unordered_map<int, std::pair<NativeUnwinder::Pcs, std::string>>;

// The frames of one thread from an unwinder made on first use (it may not be needed).
template <typename Make>
UnwindThread lazyUnwind(std::unique_ptr<NativeUnwinder>* unwinder, Unwound* unwound,
                        size_t max_frames, Make make) {
    return [unwinder, unwound, max_frames, make](int tid) {
        auto done = unwound->find(tid);
        if (done != unwound->end()) return done->second.first;
        try {
            if (!*unwinder) *unwinder = make();
            std::string error;
            auto pcs = (*unwinder)->unwindPcs(tid, max_frames, &error);
            unwound->emplace(tid, std::make_pair(pcs, error));
            return pcs;
        } catch (const AnalysisError&) {
        }
        return NativeUnwinder::Pcs{};
    };
}

bool wantsNative(const AnalysisOptions& options) {
    return options.native || options.native_all;
}

// How deep a thread is unwound to confirm what its machine stack suggests (a GIL function is
// the innermost interpreter frame; the collector runs). Native modes unwind every frame anyway
// and reuse the unwinds; otherwise the innermost frames suffice, and a 12,000-frame recursion
// must not cost minutes of unwinding for a flag.
constexpr size_t kConfirmFrames = 512;

size_t confirmDepth(const AnalysisOptions& options) {
    return wantsNative(options) ? options.max_frames : std::min(options.max_frames, kConfirmFrames);
}

// PyStack's words, which its users know: thread states may already be gone or half torn down.
constexpr const char* kFinalizing =
    "The interpreter is shutting itself down so it is possible that no Python stack trace is "
    "available for inspection.";

// Whether the runtime is being finalized (3.7+: a thread state in _PyRuntime's finalizing).
bool finalizing(const Memory& memory, const PythonPlan& plan) {
    uint64_t tstate = 0;
    return plan.layout.rt_finalizing >= 0 && plan.addrs.runtime &&
           memory.readPointer(*plan.addrs.runtime + plan.layout.rt_finalizing, &tstate) &&
           tstate != 0;
}

void walkPython(const Memory& memory, const PythonPlan& plan, const AnalysisOptions& options,
                const StackPointers& stack_pointers, UnwindThread unwind_thread, Analysis* out) {
    cpython::WalkOptions walk_options;
    walk_options.max_frames = options.max_frames;
    walk_options.known_tids = out->tids;
    walk_options.locals = options.locals;
    walk_options.scanner = plan.scanner.get();
    walk_options.stack_pointers = stack_pointers;
    walk_options.unwind_thread = std::move(unwind_thread);
    // The native stacks are unwound anyway: every thread's GIL state is checked on its own.
    walk_options.confirm_all = wantsNative(options);
    cpython::InterpreterWalker walker(memory, plan.layout, plan.addrs, walk_options);
    if (finalizing(memory, plan)) out->warnings.push_back(kFinalizing);
    try {
        out->threads = walker.walk(&out->warnings);
    } catch (const AnalysisError& e) {
        out->python_error = e.what();
    }
}

// The threads whose native stacks are wanted: Python threads, and with native_all every other
// thread too (added as threads without Python).
std::vector<PyThreadInfo*> nativeTargets(const AnalysisOptions& options, Analysis* out) {
    std::set<int> python_tids;
    for (const auto& thread : out->threads)
        if (thread.tid != 0) python_tids.insert(thread.tid);
    if (options.native_all) {
        for (int tid : out->tids) {
            if (python_tids.count(tid)) continue;
            PyThreadInfo thread;
            thread.tid = tid;
            thread.python = false;
            out->threads.push_back(std::move(thread));
        }
    }
    std::vector<PyThreadInfo*> targets;
    for (auto& thread : out->threads)
        if (thread.tid != 0) targets.push_back(&thread);
    return targets;
}

// Return addresses of every wanted thread; cheap enough to run while a process is stopped.
std::vector<NativeUnwinder::Pcs> unwindAll(NativeUnwinder& unwinder,
                                           const std::vector<PyThreadInfo*>& threads,
                                           const AnalysisOptions& options, Unwound* unwound) {
    std::vector<NativeUnwinder::Pcs> stacks;
    for (PyThreadInfo* thread : threads) {
        // Once per OS thread: a thread running several interpreters has several thread states.
        auto done = unwound->find(thread->tid);
        if (done == unwound->end()) {
            std::string error;
            auto pcs = unwinder.unwindPcs(thread->tid, options.max_frames, &error);
            done = unwound->emplace(thread->tid, std::make_pair(std::move(pcs), error)).first;
        }
        stacks.push_back(done->second.first);
        if (!done->second.second.empty()) thread->warnings.push_back(done->second.second);
    }
    return stacks;
}

// Symbols, source lines and inlined calls (DWARF work): after a process runs again.
// Thread states of one OS thread in several interpreters then share its stack out.
void symbolizeAll(NativeUnwinder& unwinder, const std::vector<PyThreadInfo*>& threads,
                  const std::vector<NativeUnwinder::Pcs>& stacks, const std::string& eval_function,
                  Analysis* out) {
    for (size_t i = 0; i < threads.size(); ++i)
        threads[i]->native_frames = unwinder.symbolize(stacks[i]);
    if (!eval_function.empty()) cpython::splitNativeStacks(&out->threads, eval_function);
}

void noNativeStacks(const AnalysisError& e, Analysis* out) {
    out->warnings.push_back(std::string("no native stacks: ") + e.what());
}

bool isElfFile(const std::string& path) {
    std::string error;
    return ElfFile::open(path, &error) != nullptr;
}

void sanitizeAll(std::vector<std::string>* texts) {
    for (auto& text : *texts) text = sanitizeUtf8(text);
}

void sanitizeFrame(PyFrameInfo* frame) {
    frame->file = sanitizeUtf8(frame->file);
    frame->function = sanitizeUtf8(frame->function);
    if (frame->qualname) frame->qualname = sanitizeUtf8(*frame->qualname);
    for (auto* pairs : {&frame->arguments, &frame->locals}) {
        for (auto& [name, repr] : *pairs) {
            name = sanitizeUtf8(name);
            repr = sanitizeUtf8(repr);
        }
    }
}

// Every string of the result comes, one way or another, from the target (names in its memory,
// paths in its notes, messages quoting them): the bindings must receive valid UTF-8 only.
void sanitizeAnalysis(Analysis* out) {
    out->core_path = sanitizeUtf8(out->core_path);
    out->process.fname = sanitizeUtf8(out->process.fname);
    out->process.psargs = sanitizeUtf8(out->process.psargs);
    sanitizeAll(&out->argv);
    if (out->execfn) out->execfn = sanitizeUtf8(*out->execfn);
    out->executable = sanitizeUtf8(out->executable);
    if (out->python_error) out->python_error = sanitizeUtf8(*out->python_error);
    sanitizeAll(&out->missing_libraries);
    sanitizeAll(&out->warnings);
    for (auto& thread : out->threads) {
        sanitizeAll(&thread.warnings);
        if (thread.python_name) thread.python_name = sanitizeUtf8(*thread.python_name);
        for (auto& frame : thread.frames) sanitizeFrame(&frame);
        for (auto& frame : thread.native_frames) {
            for (std::string* text :
                 {&frame.function, &frame.file, &frame.library, &frame.library_path})
                *text = sanitizeUtf8(*text);
        }
    }
}

void finish(const ModuleSet& modules, Analysis* out) {
    for (const auto& m : modules.missing()) out->missing_libraries.push_back(m);
    for (const auto& w : modules.warnings()) out->warnings.push_back(w);
    sanitizeAnalysis(out);
}

// The analyzer's own errors keep their type; anything else the C++ library throws (a number out
// of range, an allocation refused, a length error on a corrupt size) becomes an AnalysisError
// with its message. Messages quote paths and names from the target: sanitized as well.
template <typename Run>
Analysis guarded(Run run) {
    try {
        return run();
    } catch (const CoreFileError& e) {
        throw CoreFileError(sanitizeUtf8(e.what()));
    } catch (const ProcessError& e) {
        throw ProcessError(sanitizeUtf8(e.what()));
    } catch (const AnalysisError& e) {
        throw AnalysisError(sanitizeUtf8(e.what()));
    } catch (const std::bad_alloc&) {
        throw AnalysisError("out of memory (the input may be corrupt, or the memory limit low)");
    } catch (const std::exception& e) {
        throw AnalysisError(std::string("internal error on this input: ") + sanitizeUtf8(e.what()));
    }
}

void fillProcessInfo(int pid, const ProcessStatus& status, Analysis* out) {
    ProcessInfo& p = out->process;
    p.pid = pid;
    p.ppid = status.ppid;
    p.pgrp = status.pgrp;
    p.sid = status.sid;
    p.uid = status.uid;
    p.gid = status.gid;
    p.state = status.state;
    p.nice = status.nice;
    p.fname = sanitizeUtf8(status.comm);
    for (const auto& arg : status.argv) {
        out->argv.push_back(sanitizeUtf8(arg));
        p.psargs += (p.psargs.empty() ? "" : " ") + out->argv.back();
    }
}

// The kernel's thread names (the OS name a program gives with prctl or pthread_setname_np).
void readOsThreadNames(int pid, Analysis* out) {
    for (auto& thread : out->threads) {
        if (thread.tid == 0) continue;
        std::ifstream comm("/proc/" + std::to_string(pid) + "/task/" + std::to_string(thread.tid) +
                           "/comm");
        std::string name;
        if (comm && std::getline(comm, name)) thread.os_name = sanitizeUtf8(name.substr(0, 64));
    }
}

Analysis analyzeCoreUnguarded(const std::string& path, const AnalysisOptions& options) {
    auto core = CoreFile::open(path);
    Analysis out;
    out.kind = "core";
    out.core_path = path;
    out.compression = compressionName(core->compression());
    out.process = core->process();
    out.process.fname = sanitizeUtf8(out.process.fname);
    out.process.psargs = sanitizeUtf8(out.process.psargs);
    out.signal = core->signal();
    for (const auto& t : core->threads()) out.tids.push_back(t.tid);
    out.warnings = core->warnings();

    // Build ids are read from the core's own bytes, before file contents can fill gaps.
    ModuleSet modules(core->mappings(), *core,
                      LibrarySearch{options.lib_search_path, options.lib_search_root, ""});
    core->setFallback(&modules);

    if (auto execfn_addr = core->auxv(AT_EXECFN)) {
        std::string execfn;
        if (core->readCString(*execfn_addr, kMaxPath, &execfn)) out.execfn = sanitizeUtf8(execfn);
    }
    const Module* executable = findExecutable(core->auxvEntries(), modules);
    if (!options.executable.empty()) {
        std::string error;
        if (!ElfFile::open(options.executable, &error))
            throw CoreFileError("executable " + options.executable + ": " + error);
        if (executable != nullptr) modules.overridePath(executable->start, options.executable);
        out.executable = options.executable;
        out.executable_from_core = false;
    } else if (out.execfn && out.execfn->front() == '/' && isElfFile(*out.execfn)) {
        // The name the program was started with, as PyStack reports it (often a symlink).
        out.executable = *out.execfn;
    } else if (executable != nullptr) {
        out.executable =
            sanitizeUtf8(executable->resolved.empty() ? executable->name : executable->resolved);
    } else if (out.execfn) {
        out.executable = *out.execfn;
    }

    StackPointers stack_pointers;
    for (const auto& t : core->threads()) stack_pointers[t.tid] = t.stackPointer();
    // The name the executable was started with also names its module (as PyStack shows it).
    auto make_unwinder = [&] { return NativeUnwinder::forCore(*core, out.executable, modules); };
    std::unique_ptr<NativeUnwinder> unwinder;
    Unwound unwound;
    std::string eval_function;
    if (auto plan = planPython(*core, modules, executable, &out)) {
        eval_function = plan->layout.eval_function;
        walkPython(*core, *plan, options, stack_pointers,
                   lazyUnwind(&unwinder, &unwound, confirmDepth(options), make_unwinder), &out);
        cpython::nameThreads(*core, plan->layout, &out.threads, &out.warnings);
    }
    if (wantsNative(options)) {
        try {
            if (!unwinder) unwinder = make_unwinder();
            auto threads = nativeTargets(options, &out);
            symbolizeAll(*unwinder, threads, unwindAll(*unwinder, threads, options, &unwound),
                         eval_function, &out);
        } catch (const AnalysisError& e) {
            noNativeStacks(e, &out);
        }
    }
    finish(modules, &out);
    return out;
}

// The thread whose /proc entries hold the process's memory, maps and root: the leader, unless
// it exited while other threads run on (a zombie leader has none of them left).
int readerThread(int pid, const ProcessStatus& status) {
    if (status.state != 'Z' && status.state != 'X') return pid;
    if (auto live = liveThread(pid)) return *live;
    throw ProcessError("process " + std::to_string(pid) +
                       " is a zombie: it has exited and has no memory left to inspect");
}

Analysis analyzeProcessUnguarded(int pid, const AnalysisOptions& options) {
    Analysis out;
    out.kind = "process";
    ProcessStatus status = readProcessStatus(pid);
    int reader = readerThread(pid, status);
    fillProcessInfo(pid, status, &out);
    // Files are opened through the process's own root, so a process in another mount
    // namespace (a container) is read against its own files.
    std::string root = "/proc/" + std::to_string(reader) + "/root";
    ProcessMemory memory(reader);
    // Everything that does not need the threads stopped happens first: mappings, ELF files,
    // symbols, the interpreter's layout, and for native stacks the modules' unwind tables.
    ModuleSet modules(readProcessMaps(reader), memory,
                      LibrarySearch{options.lib_search_path, options.lib_search_root, root});
    const Module* executable = findExecutable(readProcessAuxv(reader), modules);
    if (executable != nullptr) out.executable = sanitizeUtf8(executable->name);
    auto plan = planPython(memory, modules, executable, &out);
    std::unique_ptr<NativeUnwinder> unwinder;
    if (wantsNative(options) && options.block) {
        try {
            unwinder = NativeUnwinder::reportProcess(reader, modules);
        } catch (const AnalysisError& e) {
            noNativeStacks(e, &out);
        }
    }

    std::optional<ProcessStopper> stopper;
    auto started = std::chrono::steady_clock::now();
    if (options.block) stopper.emplace(pid);
    out.tids = stopper ? stopper->tids() : listThreads(pid);
    StackPointers stack_pointers;
    for (int tid : out.tids) {
        if (auto sp = stopper ? stopper->stackPointer(tid) : readBlockedStackPointer(pid, tid))
            stack_pointers[tid] = *sp;
    }
    if (stopper && unwinder) {
        try {
            unwinder->attach(pid);
        } catch (const AnalysisError& e) {
            noNativeStacks(e, &out);
            unwinder.reset();
        }
    }
    // Threads can be unwound only while stopped; without native mode an unwinder is set up
    // only if the walk needs one (see InterpreterWalker::applyStackActivity).
    UnwindThread unwind_thread;
    Unwound unwound;
    if (stopper) {
        unwind_thread = lazyUnwind(&unwinder, &unwound, confirmDepth(options), [&] {
            auto made = NativeUnwinder::reportProcess(reader, modules);
            made->attach(pid);
            return made;
        });
    }
    if (plan) walkPython(memory, *plan, options, stack_pointers, unwind_thread, &out);
    std::vector<PyThreadInfo*> native_threads;
    std::vector<NativeUnwinder::Pcs> native_stacks;
    if (unwinder && wantsNative(options)) {
        native_threads = nativeTargets(options, &out);
        native_stacks = unwindAll(*unwinder, native_threads, options, &unwound);
    }
    if (stopper) {
        stopper->detach();
        out.stopped_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    }
    readOsThreadNames(pid, &out);
    if (plan) cpython::nameThreads(memory, plan->layout, &out.threads, &out.warnings);
    if (!native_stacks.empty())
        symbolizeAll(*unwinder, native_threads, native_stacks,
                     plan ? plan->layout.eval_function : "", &out);
    if (memory.processGone())
        throw ProcessError("process " + std::to_string(pid) + " exited during inspection");
    finish(modules, &out);
    return out;
}

}  // namespace

Analysis analyzeCore(const std::string& path, const AnalysisOptions& options) {
    return guarded([&] { return analyzeCoreUnguarded(path, options); });
}

Analysis analyzeProcess(int pid, const AnalysisOptions& options) {
    return guarded([&] { return analyzeProcessUnguarded(pid, options); });
}

}  // namespace triage
