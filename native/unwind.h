// Native stacks: unwinding with elfutils' libdwfl (CFI from .eh_frame/.debug_frame), symbols,
// source lines and inlined calls from DWARF, demangled names.
#pragma once

#include <elfutils/libdwfl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analysis.h"
#include "corefile.h"
#include "modules.h"

namespace triage {

class NativeUnwinder {
  public:
    // A session over a core (which must outlive it) or over a live process whose threads are
    // already ptrace-stopped. Libraries are looked up through `modules` (search paths, the
    // process's own root), then by build id. Throws AnalysisError when libdwfl cannot start.
    static std::unique_ptr<NativeUnwinder> forCore(const CoreFile& core,
                                                   const std::string& executable,
                                                   const ModuleSet& modules);
    // A live process in two steps, so that its threads are stopped as briefly as possible:
    // reportProcess (running: modules and their unwind tables loaded), then attach (stopped).
    static std::unique_ptr<NativeUnwinder> reportProcess(int pid, const ModuleSet& modules);
    void attach(int pid);
    ~NativeUnwinder();
    NativeUnwinder(const NativeUnwinder&) = delete;
    NativeUnwinder& operator=(const NativeUnwinder&) = delete;

    // (pc, is_activation) of a thread's frames, innermost first: all that needs the thread
    // stopped. A stack that ends early (no CFI, corrupted memory) comes back partial with
    // `error` set.
    using Pcs = std::vector<std::pair<uint64_t, bool>>;
    Pcs unwindPcs(int tid, size_t max_frames, std::string* error);
    // Those frames symbolized, outermost first, inlined calls included (DWARF: slow part).
    std::vector<NativeFrameInfo> symbolize(const Pcs& pcs);

  private:
    explicit NativeUnwinder(const ModuleSet& modules);
    void symbolizeOne(uint64_t pc, bool activation, std::vector<NativeFrameInfo>* out);
    struct ModuleIdentity {
        bool cacheable = false;
        std::string build_id, source;
        uint64_t bias = 0;
    };
    const ModuleIdentity& identity(Dwfl_Module* mod);

    const ModuleSet& modules_;
    Dwfl* dwfl_ = nullptr;
    Elf* core_elf_ = nullptr;
    bool live_ = false;
    bool broken_ = false;  // live: libdwfl failed to set up a thread; see unwindPcs
    std::map<std::pair<uint64_t, bool>, std::vector<NativeFrameInfo>> cache_;
    std::map<Dwfl_Module*, ModuleIdentity> identities_;
};

}  // namespace triage
