#include "unwind.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <set>

#include "demangle.h"
#include "errors.h"
#include "mapped_file.h"
#include "numbers.h"
#include "symbol_cache.h"

namespace triage {

namespace {

#if defined(__x86_64__)
constexpr unsigned kStackPointerReg = 7;  // DWARF register number of rsp
#elif defined(__aarch64__)
constexpr unsigned kStackPointerReg = 31;
#endif

// libdwfl's callbacks carry no context of ours: the module set in use is kept here for the
// duration of each call into libdwfl (analyses do not run concurrently in one thread).
thread_local const ModuleSet* t_modules = nullptr;
thread_local bool t_live = false;

struct ModulesScope {
    ModulesScope(const ModuleSet* m, bool live) : saved(t_modules), saved_live(t_live) {
        t_modules = m;
        t_live = live;
    }
    ~ModulesScope() {
        t_modules = saved;
        t_live = saved_live;
    }
    const ModuleSet* saved;
    bool saved_live;
};

// elfutils' *_errmsg(-1) return NULL when no error code was recorded (dwfl_core_file_attach
// fails that way on a core cut inside its notes): never build a std::string from that.
std::string errorText(const char* message) {
    return message != nullptr && *message != '\0' ? message : "unknown error";
}

std::string dwflError(const char* what) {
    return std::string(what) + ": " + errorText(dwfl_errmsg(-1));
}

std::string baseName(const char* path) {
    if (path == nullptr) return {};
    const char* slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

// A regular file at `path`, opened without blocking: module names come from the target.
int openModuleFile(const std::string& path, char** file_name) {
    std::string error;
    int fd = openRegularFile(path, &error);
    if (fd >= 0) *file_name = strdup(path.c_str());
    return fd;
}

// Opens the file our module resolution chose (search paths, the process's root), else lets
// libdwfl look by build id. Names read from a core (its link map) are opened only as regular
// files; libdwfl's own lookup by path is kept for live processes, whose deleted files it reads
// from memory.
int findElf(Dwfl_Module* mod, void** userdata, const char* modname, Dwarf_Addr base,
            char** file_name, Elf** elfp) {
    if (t_modules != nullptr && modname != nullptr) {
        for (const auto& m : t_modules->modules()) {
            if (m.name != modname || m.resolved.empty()) continue;
            int fd = openModuleFile(m.resolved, file_name);
            if (fd >= 0) return fd;
        }
    }
    int fd = dwfl_build_id_find_elf(mod, userdata, modname, base, file_name, elfp);
    if (fd >= 0 || *elfp != nullptr) return fd;
    if (t_live) return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
    if (modname == nullptr || modname[0] != '/') return -1;
    return openModuleFile(modname, file_name);
}

// A file libdwfl's standard lookup would open() by the module's debug link (next to the
// module, in its .debug/, under /usr/lib/debug) that exists and is not a regular file: a FIFO
// there would block libdwfl's open() for good. The module's directory comes from the target.
bool blockingDebugLink(const char* file_name, const char* debuglink) {
    if (file_name == nullptr) return false;
    std::string path(file_name);
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    std::string link = debuglink != nullptr ? debuglink : baseName(file_name) + ".debug";
    std::vector<std::string> candidates = {dir + "/" + link, dir + "/.debug/" + link,
                                           "/usr/lib/debug" + dir + "/" + link};
    if (!link.empty() && link[0] == '/') candidates.push_back(link);
    for (const auto& candidate : candidates) {
        struct stat st;
        if (stat(candidate.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            return true;
    }
    return false;
}

int findDebuginfo(Dwfl_Module* mod, void** userdata, const char* modname, Dwarf_Addr base,
                  const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                  char** debuginfo_file_name) {
    if (blockingDebugLink(file_name, debuglink_file)) return -1;
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                        debuglink_crc, debuginfo_file_name);
}

char* g_debuginfo_path = nullptr;
const Dwfl_Callbacks kCallbacks = {findElf, findDebuginfo, nullptr, &g_debuginfo_path};

// A core's threads, registers and memory for libdwfl's unwinder. Its own core reader
// (dwfl_core_file_attach) walks every program header and allocates a chunk of the file for
// each word the unwinder reads; the core's segment index answers those reads by binary search,
// and also from the files behind pages the kernel did not dump.
// The thread argument libdwfl carries is the thread's CoreThread.
#if defined(__x86_64__)
// DWARF registers 0-16 (rax rdx rcx rbx rsi rdi rbp rsp r8-r15, then the return address
// column, rip), as user_regs_struct word indexes.
#define WORD(reg) (offsetof(user_regs_struct, reg) / sizeof(uint64_t))
constexpr size_t kDwarfWords[] = {WORD(rax), WORD(rdx), WORD(rcx), WORD(rbx), WORD(rsi), WORD(rdi),
                                  WORD(rbp), WORD(rsp), WORD(r8),  WORD(r9),  WORD(r10), WORD(r11),
                                  WORD(r12), WORD(r13), WORD(r14), WORD(r15), WORD(rip)};
constexpr size_t kPcWord = WORD(rip);
#undef WORD
#elif defined(__aarch64__)
// DWARF registers 0-31: x0-x30, sp (user_regs_struct's first 32 words).
constexpr size_t kDwarfWords[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                  16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
constexpr size_t kPcWord = 32;
#endif

pid_t coreNextThread(Dwfl*, void* dwfl_arg, void** thread_argp) {
    const auto& threads = static_cast<const CoreFile*>(dwfl_arg)->threads();
    auto* previous = static_cast<const CoreThread*>(*thread_argp);
    size_t next = previous == nullptr ? 0 : static_cast<size_t>(previous - threads.data()) + 1;
    if (next >= threads.size()) return 0;
    *thread_argp = const_cast<CoreThread*>(&threads[next]);
    return threads[next].tid;
}

bool coreGetThread(Dwfl*, pid_t tid, void* dwfl_arg, void** thread_argp) {
    for (const auto& thread : static_cast<const CoreFile*>(dwfl_arg)->threads()) {
        if (thread.tid != tid) continue;
        *thread_argp = const_cast<CoreThread*>(&thread);
        return true;
    }
    return false;
}

bool coreMemoryRead(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* dwfl_arg) {
    uint64_t word = 0;
    if (!static_cast<const CoreFile*>(dwfl_arg)->readValue(addr, &word)) return false;
    *result = word;
    return true;
}

bool coreInitialRegisters(Dwfl_Thread* thread, void* thread_arg) {
    const auto& words = static_cast<const CoreThread*>(thread_arg)->registers;
    constexpr size_t kCount = sizeof(kDwarfWords) / sizeof(kDwarfWords[0]);
    Dwarf_Word regs[kCount];
    for (size_t i = 0; i < kCount; ++i) {
        if (kDwarfWords[i] >= words.size()) return false;  // a short NT_PRSTATUS
        regs[i] = words[kDwarfWords[i]];
    }
    if (kPcWord >= words.size() || !dwfl_thread_state_registers(thread, 0, kCount, regs))
        return false;
    dwfl_thread_state_register_pc(thread, words[kPcWord]);
    return true;
}

const Dwfl_Thread_Callbacks kCoreThreads = {coreNextThread,       coreGetThread, coreMemoryRead,
                                            coreInitialRegisters, nullptr,       nullptr};

struct WalkState {
    std::vector<std::pair<uint64_t, bool>> pcs;
    std::set<std::pair<uint64_t, uint64_t>> seen;  // (pc, sp): a repeat means a loop
    size_t max_frames;
    bool looped = false;
    bool started = false;  // libdwfl set up the thread's registers and reported a frame
};

int onFrame(Dwfl_Frame* frame, void* arg) {
    auto* state = static_cast<WalkState*>(arg);
    state->started = true;
    Dwarf_Addr pc = 0;
    bool activation = false;
    if (!dwfl_frame_pc(frame, &pc, &activation)) return DWARF_CB_ABORT;
    Dwarf_Word sp = 0;
    dwfl_frame_reg(frame, kStackPointerReg, &sp);
    if (!state->seen.insert({pc, sp}).second) {
        state->looped = true;
        return DWARF_CB_ABORT;
    }
    state->pcs.emplace_back(pc, activation);
    return state->pcs.size() >= state->max_frames ? DWARF_CB_ABORT : DWARF_CB_OK;
}

std::string dieName(Dwarf_Die* die) {
    Dwarf_Attribute attr;
    for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
        if (dwarf_attr_integrate(die, at, &attr) != nullptr) {
            if (const char* s = dwarf_formstring(&attr)) return demangle(s);
        }
    }
    if (dwarf_attr_integrate(die, DW_AT_name, &attr) != nullptr) {
        if (const char* s = dwarf_formstring(&attr)) return s;
    }
    return "???";
}

// A thread we stopped that is still there: its registers can be read.
bool stillStopped(int tid) {
    user_regs_struct regs;
    return ptrace(PTRACE_GETREGS, tid, nullptr, &regs) == 0;
}

}  // namespace

NativeUnwinder::NativeUnwinder(const ModuleSet& modules) : modules_(modules) {}

NativeUnwinder::~NativeUnwinder() {
    try {
        SymbolCache::shared().flush();
    } catch (const std::exception&) {
        // A cache that cannot be written only costs time on the next run.
    }
    if (dwfl_ != nullptr) dwfl_end(dwfl_);
    if (core_elf_ != nullptr) elf_end(core_elf_);
}

std::unique_ptr<NativeUnwinder> NativeUnwinder::forCore(const CoreFile& core,
                                                        const std::string& executable,
                                                        const ModuleSet& modules) {
    std::unique_ptr<NativeUnwinder> self(new NativeUnwinder(modules));
    ModulesScope scope(&modules, false);
    elf_version(EV_CURRENT);
    const MappedFile& bytes = core.bytes();
    self->core_elf_ =
        elf_memory(reinterpret_cast<char*>(const_cast<unsigned char*>(bytes.data())), bytes.size());
    self->dwfl_ = dwfl_begin(&kCallbacks);
    if (self->core_elf_ == nullptr)
        throw AnalysisError("cannot start unwinding: " + errorText(elf_errmsg(-1)));
    if (self->dwfl_ == nullptr) throw AnalysisError(dwflError("cannot start unwinding"));
    if (dwfl_core_file_report(self->dwfl_, self->core_elf_,
                              executable.empty() ? nullptr : executable.c_str()) < 0 ||
        dwfl_report_end(self->dwfl_, nullptr, nullptr) != 0 ||
        !dwfl_attach_state(self->dwfl_, self->core_elf_, core.process().pid, &kCoreThreads,
                           const_cast<CoreFile*>(&core)))
        throw AnalysisError(dwflError("cannot read the core for unwinding"));
    return self;
}

std::unique_ptr<NativeUnwinder> NativeUnwinder::reportProcess(int pid, const ModuleSet& modules) {
    std::unique_ptr<NativeUnwinder> self(new NativeUnwinder(modules));
    self->live_ = true;
    ModulesScope scope(&modules, true);
    self->dwfl_ = dwfl_begin(&kCallbacks);
    if (self->dwfl_ == nullptr || dwfl_linux_proc_report(self->dwfl_, pid) != 0 ||
        dwfl_report_end(self->dwfl_, nullptr, nullptr) != 0)
        throw AnalysisError(dwflError("cannot read the process's modules"));
    // Open every module and its unwind tables now, while the process still runs.
    dwfl_getmodules(
        self->dwfl_,
        [](Dwfl_Module* mod, void**, const char*, Dwarf_Addr, void*) -> int {
            Dwarf_Addr bias = 0;
            if (dwfl_module_getelf(mod, &bias) != nullptr) dwfl_module_eh_cfi(mod, &bias);
            return DWARF_CB_OK;
        },
        nullptr, 0);
    return self;
}

void NativeUnwinder::attach(int pid) {
    ModulesScope scope(&modules_, live_);
    if (dwfl_linux_proc_attach(dwfl_, pid, /*assume_ptrace_stopped=*/true) != 0)
        throw AnalysisError(dwflError("cannot unwind the process"));
}

NativeUnwinder::Pcs NativeUnwinder::unwindPcs(int tid, size_t max_frames, std::string* error) {
    ModulesScope scope(&modules_, live_);
    WalkState state;
    state.max_frames = max_frames;
    // libdwfl (0.188) leaves a live session marked as "attached to a thread" when it cannot read
    // a thread's registers, and the next thread then fails an assertion: a thread that is gone
    // is skipped here, and after such a failure the session is not used again.
    if (live_ && (broken_ || !stillStopped(tid))) {
        *error = "cannot unwind: the thread is gone (the process is exiting)";
        return {};
    }
    int rc = dwfl_getthread_frames(dwfl_, tid, onFrame, &state);
    if (live_ && rc != 0 && !state.started) broken_ = true;
    if (state.looped) {
        *error = "native stack loops; stopped";
    } else if (state.pcs.size() >= max_frames) {
        *error = "native stack truncated at " + std::to_string(max_frames) + " frames";
    } else if (rc != 0 && state.pcs.empty()) {
        *error = dwflError("cannot unwind");
    }
    return std::move(state.pcs);
}

std::vector<NativeFrameInfo> NativeUnwinder::symbolize(const Pcs& pcs) {
    ModulesScope scope(&modules_, live_);
    std::vector<NativeFrameInfo> frames;
    for (const auto& [pc, activation] : pcs) symbolizeOne(pc, activation, &frames);
    std::reverse(frames.begin(), frames.end());
    return frames;
}

// Appends the frames at one return address, innermost first: the calls inlined there (from
// DWARF scopes), then the function that contains them.
void NativeUnwinder::symbolizeOne(uint64_t pc, bool activation, std::vector<NativeFrameInfo>* out) {
    auto key_pc = std::make_pair(pc, activation);
    auto cached = cache_.find(key_pc);
    if (cached != cache_.end()) {
        out->insert(out->end(), cached->second.begin(), cached->second.end());
        return;
    }
    // A return address points after the call: look up the call instruction itself.
    Dwarf_Addr lookup = activation ? pc : pc - 1;
    std::vector<NativeFrameInfo> here;
    NativeFrameInfo frame;
    frame.address = pc;
    frame.function = "???";
    Dwfl_Module* mod = dwfl_addrmodule(dwfl_, lookup);
    if (mod != nullptr) {
        Dwarf_Addr low = 0;
        const char* modname =
            dwfl_module_info(mod, nullptr, &low, nullptr, nullptr, nullptr, nullptr, nullptr);
        frame.library = baseName(modname);
        // libdwfl names core modules by file name only; the mapping knows the full path.
        const Module* mapped = modules_.moduleAt(pc);
        frame.library_path = mapped ? mapped->name : (modname != nullptr ? modname : "");
        frame.offset = pc - low;
        // Symbols of this address symbolized before (this run, an earlier core, an earlier
        // run): the DWARF of the module is then not even opened.
        const ModuleIdentity& id = identity(mod);
        Dwarf_Addr link_bias = id.bias;
        uint64_t key = ((lookup - link_bias) << 1) | (activation ? 1 : 0);
        CachedFrames known;
        if (id.cacheable && SymbolCache::shared().find(id.build_id, id.source, key, &known)) {
            for (const auto& k : known) {
                NativeFrameInfo f = frame;
                f.function = k.function;
                f.file = k.file;
                f.line = k.line;
                f.column = k.column;
                f.inlined = k.inlined;
                here.push_back(std::move(f));
            }
            out->insert(out->end(), here.begin(), here.end());
            cache_.emplace(key_pc, std::move(here));
            return;
        }
        GElf_Off offset;
        GElf_Sym sym;
        if (const char* name =
                dwfl_module_addrinfo(mod, lookup, &offset, &sym, nullptr, nullptr, nullptr))
            frame.function = demangle(name);
        if (Dwfl_Line* line = dwfl_module_getsrc(mod, lookup)) {
            int lineno = 0, col = 0;
            if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, &col, nullptr, nullptr)) {
                frame.file = file;
                frame.line = lineno;
                frame.column = col;
            }
        }
        Dwarf_Addr bias = 0;
        Dwarf_Die* cu = dwfl_module_addrdie(mod, lookup, &bias);
        // dwarf_getscopes gives the innermost scope; dwarf_getscopes_die on it then gives the
        // concrete nesting (inlined call sites up to the real function), as eu-addr2line -i.
        Dwarf_Die* scopes = nullptr;
        Dwarf_Die* lexical = nullptr;
        int nscopes = 0;
        if (cu != nullptr && dwarf_getscopes(cu, lookup - bias, &lexical) > 0)
            nscopes = dwarf_getscopes_die(&lexical[0], &scopes);
        free(lexical);
        Dwarf_Files* files = nullptr;
        size_t nfiles = 0;
        if (nscopes > 0 && dwarf_getsrcfiles(cu, &files, &nfiles) != 0) files = nullptr;
        for (int i = 0; i < nscopes; ++i) {
            Dwarf_Die* s = &scopes[i];
            int tag = dwarf_tag(s);
            if (tag == DW_TAG_subprogram) break;
            if (tag != DW_TAG_inlined_subroutine) continue;
            NativeFrameInfo inl = frame;
            inl.function = dieName(s);
            inl.inlined = true;
            here.push_back(inl);
            // The caller's location is where this inlined call was made.
            Dwarf_Attribute attr;
            Dwarf_Word value = 0;
            frame.file.clear();
            frame.line = 0;
            frame.column = 0;
            if (files && dwarf_formudata(dwarf_attr(s, DW_AT_call_file, &attr), &value) == 0) {
                if (const char* f = dwarf_filesrc(files, value, nullptr, nullptr)) frame.file = f;
            }
            if (dwarf_formudata(dwarf_attr(s, DW_AT_call_line, &attr), &value) == 0)
                frame.line = static_cast<int>(value);
            if (dwarf_formudata(dwarf_attr(s, DW_AT_call_column, &attr), &value) == 0)
                frame.column = static_cast<int>(value);
        }
        free(scopes);
        here.push_back(frame);
        if (id.cacheable) {
            CachedFrames learned;
            for (const auto& f : here)
                learned.push_back({f.function, f.file, f.line, f.column, f.inlined});
            SymbolCache::shared().add(id.build_id, id.source, key, learned);
        }
    } else {
        here.push_back(frame);
    }
    out->insert(out->end(), here.begin(), here.end());
    cache_.emplace(key_pc, std::move(here));
}

// What identifies a module's symbols: its build id and the file they come from (its path, size
// and modification time: a stripped copy keeps the build id but not the symbols).
const NativeUnwinder::ModuleIdentity& NativeUnwinder::identity(Dwfl_Module* mod) {
    auto it = identities_.find(mod);
    if (it != identities_.end()) return it->second;
    ModuleIdentity id;
    const unsigned char* bits = nullptr;
    GElf_Addr vaddr = 0;
    int n = dwfl_module_build_id(mod, &bits, &vaddr);
    Dwarf_Addr bias = 0;
    Elf* elf = dwfl_module_getelf(mod, &bias);
    const char* mainfile = nullptr;
    dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, &mainfile, nullptr);
    struct stat st{};
    if (n > 0 && elf != nullptr && mainfile != nullptr && ::stat(mainfile, &st) == 0) {
        id.build_id = toHex(bits, static_cast<size_t>(n));
        id.bias = bias;
        id.source = std::string(mainfile) + ":" + std::to_string(st.st_size) + ":" +
                    std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
        id.cacheable = true;
    }
    return identities_.emplace(mod, std::move(id)).first->second;
}

}  // namespace triage
