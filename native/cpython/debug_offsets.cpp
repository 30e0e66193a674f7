#include "cpython/debug_offsets.h"

#include <cstring>

namespace triage::cpython {

namespace {

// Where each value sits inside _Py_DebugOffsets of 3.13 (cookie, version, free_threaded, then
// one {size, offsets...} group per structure). Must change together with the 3.13 layout of
// Include/internal/pycore_runtime.h; 3.14 added fields and needs its own table.
struct Positions313 {
    static constexpr size_t kTotal = 584;
    static constexpr size_t kRuntimeFinalizing = 32, kRuntimeInterpretersHead = 40;
    static constexpr size_t kInterpSize = 48, kInterpId = 56, kInterpNext = 64,
                            kInterpThreadsHead = 72, kInterpGc = 80, kInterpModules = 88,
                            kInterpBuiltins = 104, kInterpCevalGil = 112, kGilState = 120,
                            kGilLocked = 136, kGilHolder = 144;
    static constexpr size_t kTstateSize = 152, kTstateNext = 168, kTstateInterp = 176,
                            kTstateCurrentFrame = 184, kTstateThreadId = 192,
                            kTstateNativeThreadId = 200;
    static constexpr size_t kFrameSize = 224, kFramePrevious = 232, kFrameExecutable = 240,
                            kFrameInstrPtr = 248, kFrameLocalsplus = 256, kFrameOwner = 264;
    static constexpr size_t kCodeSize = 272, kCodeFilename = 280, kCodeName = 288,
                            kCodeQualname = 296, kCodeLinetable = 304, kCodeFirstlineno = 312,
                            kCodeArgcount = 320, kCodeLocalsplusnames = 328,
                            kCodeLocalspluskinds = 336, kCodeAdaptive = 344;
    static constexpr size_t kUnicodeAsciiSize = 560;
    static constexpr size_t kGcCollecting = 576;
};

constexpr uint64_t kMaxStructSize = 1 << 20;

}  // namespace

bool applyDebugOffsets(const Memory& memory, uint64_t runtime, Layout* layout, std::string* why) {
    using P = Positions313;
    if (layout->major != 3 || layout->minor != 13) {
        *why = "no debug offsets table for this version";
        return false;
    }
    unsigned char raw[P::kTotal];
    if (!memory.read(runtime, raw, sizeof raw)) {
        *why = "_Py_DebugOffsets unreadable";
        return false;
    }
    if (std::memcmp(raw, "xdebugpy", 8) != 0) {
        *why = "no _Py_DebugOffsets cookie at _PyRuntime";
        return false;
    }
    auto at = [&](size_t pos) {
        uint64_t v;
        std::memcpy(&v, raw + pos, 8);
        return v;
    };
    uint64_t version = at(8);
    if (((version >> 24) & 0xff) != 3 || ((version >> 16) & 0xff) != 13) {
        *why = "_Py_DebugOffsets of another version";
        return false;
    }
    if (at(16) != 0) {
        *why = "free-threaded builds are not supported";
        return false;
    }
    // Every offset must fall inside the structure it describes.
    auto fits = [&](size_t size_pos, std::initializer_list<size_t> fields) {
        uint64_t size = at(size_pos);
        if (size == 0 || size > kMaxStructSize) return false;
        for (size_t f : fields)
            if (at(f) + 8 > size) return false;
        return true;
    };
    if (!fits(P::kInterpSize, {P::kInterpId, P::kInterpNext, P::kInterpThreadsHead, P::kInterpGc,
                               P::kInterpModules, P::kInterpBuiltins, P::kInterpCevalGil}) ||
        !fits(P::kTstateSize, {P::kTstateNext, P::kTstateInterp, P::kTstateCurrentFrame,
                               P::kTstateThreadId, P::kTstateNativeThreadId}) ||
        !fits(P::kFrameSize,
              {P::kFramePrevious, P::kFrameExecutable, P::kFrameInstrPtr, P::kFrameLocalsplus}) ||
        !fits(P::kCodeSize, {P::kCodeFilename, P::kCodeName, P::kCodeQualname, P::kCodeLinetable,
                             P::kCodeFirstlineno, P::kCodeArgcount, P::kCodeLocalsplusnames,
                             P::kCodeLocalspluskinds})) {
        *why = "_Py_DebugOffsets values are implausible";
        return false;
    }
    Layout& l = *layout;
    l.rt_interp_head = static_cast<int64_t>(at(P::kRuntimeInterpretersHead));
    l.rt_finalizing = static_cast<int64_t>(at(P::kRuntimeFinalizing));
    l.is_id = static_cast<int64_t>(at(P::kInterpId));
    l.is_next = static_cast<int64_t>(at(P::kInterpNext));
    l.is_threads_head = static_cast<int64_t>(at(P::kInterpThreadsHead));
    l.is_builtins = static_cast<int64_t>(at(P::kInterpBuiltins));
    l.is_modules = static_cast<int64_t>(at(P::kInterpModules));
    l.is_gc_collecting = static_cast<int64_t>(at(P::kInterpGc) + at(P::kGcCollecting));
    l.is_ceval_gil = static_cast<int64_t>(at(P::kInterpCevalGil));
    l.gil_locked = static_cast<int64_t>(at(P::kGilLocked) - at(P::kGilState));
    l.gil_last_holder = static_cast<int64_t>(at(P::kGilHolder) - at(P::kGilState));
    l.ts_next = static_cast<int64_t>(at(P::kTstateNext));
    l.ts_interp = static_cast<int64_t>(at(P::kTstateInterp));
    l.ts_current_frame = static_cast<int64_t>(at(P::kTstateCurrentFrame));
    l.ts_thread_id = static_cast<int64_t>(at(P::kTstateThreadId));
    l.ts_native_thread_id = static_cast<int64_t>(at(P::kTstateNativeThreadId));
    l.ts_size = static_cast<int64_t>(at(P::kTstateNativeThreadId) + 8);
    l.if_previous = static_cast<int64_t>(at(P::kFramePrevious));
    l.if_code = static_cast<int64_t>(at(P::kFrameExecutable));
    l.if_instr = static_cast<int64_t>(at(P::kFrameInstrPtr));
    l.if_owner = static_cast<int64_t>(at(P::kFrameOwner));
    l.f_localsplus = static_cast<int64_t>(at(P::kFrameLocalsplus));
    l.frame_size = static_cast<int64_t>(at(P::kFrameLocalsplus) + 8);
    l.co_filename = static_cast<int64_t>(at(P::kCodeFilename));
    l.co_name = static_cast<int64_t>(at(P::kCodeName));
    l.co_qualname = static_cast<int64_t>(at(P::kCodeQualname));
    l.co_linetable = static_cast<int64_t>(at(P::kCodeLinetable));
    l.co_firstlineno = static_cast<int64_t>(at(P::kCodeFirstlineno));
    l.co_argcount = static_cast<int64_t>(at(P::kCodeArgcount));
    l.co_varnames = static_cast<int64_t>(at(P::kCodeLocalsplusnames));
    l.co_localspluskinds = static_cast<int64_t>(at(P::kCodeLocalspluskinds));
    l.co_code_adaptive = static_cast<int64_t>(at(P::kCodeAdaptive));
    l.unicode_ascii_size = static_cast<int64_t>(at(P::kUnicodeAsciiSize));
    return true;
}

}  // namespace triage::cpython
