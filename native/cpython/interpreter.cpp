#include "cpython/interpreter.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "cpython/linetable.h"
#include "errors.h"

namespace triage::cpython {

namespace {

constexpr size_t kMaxInterpreters = 256;
constexpr size_t kMaxThreads = 100000;
constexpr size_t kMaxNameChars = 4096;
constexpr size_t kMaxLineTable = 1 << 20;
constexpr int64_t kPthreadScanBytes = 0x800;
// glibc x86-64 keeps the kernel tid of a thread at this offset of its struct pthread.
constexpr int64_t kGlibcTidOffsets[] = {0x2d0, 0xd0};

std::string hex(uint64_t v) {
    std::ostringstream s;
    s << "0x" << std::hex << v;
    return s.str();
}

template <typename T>
T field(const std::vector<unsigned char>& buf, int64_t offset) {
    T v{};
    if (offset >= 0 && static_cast<size_t>(offset) + sizeof(T) <= buf.size())
        std::memcpy(&v, buf.data() + offset, sizeof(T));
    return v;
}

}  // namespace

InterpreterWalker::InterpreterWalker(const Memory& memory, const Layout& layout,
                                     const RuntimeAddresses& addrs, const WalkOptions& options)
    : mem_(memory),
      layout_(layout),
      addrs_(addrs),
      options_(options),
      objects_(memory, layout),
      reprs_(memory, layout, objects_) {
    tid_set_.insert(options_.known_tids.begin(), options_.known_tids.end());
}

bool InterpreterWalker::plausibleInterpreter(uint64_t interp, bool need_threads) {
    uint64_t head = 0;
    if (interp == 0 || (interp & 7) != 0 ||
        !mem_.readPointer(interp + layout_.is_threads_head, &head))
        return false;
    // An interpreter without threads has nothing to show, but is not wrong.
    if (head == 0) return !need_threads;
    uint64_t back = 0;
    if (!mem_.readPointer(head + layout_.ts_interp, &back) || back != interp) return false;
    if (!need_threads) return true;
    // A guess from a memory scan must also hold the builtins dict where the layout says.
    uint64_t builtins = 0;
    return mem_.readPointer(interp + layout_.is_builtins, &builtins) &&
           objects_.typeName(objects_.typeOf(builtins)) == "dict";
}

std::vector<uint64_t> InterpreterWalker::interpreters(std::vector<std::string>* warnings) {
    uint64_t head = 0;
    if (layout_.rt_interp_head >= 0 && addrs_.runtime) {
        mem_.readPointer(*addrs_.runtime + layout_.rt_interp_head, &head);
    } else if (addrs_.interp_head) {
        mem_.readPointer(*addrs_.interp_head, &head);
    }
    if (!plausibleInterpreter(head) && addrs_.tstate_current) {
        // Older interpreters without the interp_head symbol: the GIL holder knows its interp.
        uint64_t tstate = 0;
        if (mem_.readPointer(*addrs_.tstate_current, &tstate) && tstate != 0)
            mem_.readPointer(tstate + layout_.ts_interp, &head);
    }
    if (!plausibleInterpreter(head)) {
        head = scanForInterpreter();
        if (head != 0) warnings->push_back("interpreter state found by scanning memory");
    }
    if (!plausibleInterpreter(head))
        throw AnalysisError("no Python interpreter state found in memory");
    std::vector<uint64_t> out;
    std::unordered_set<uint64_t> seen;
    for (uint64_t interp = head; interp != 0;) {
        if (!seen.insert(interp).second || out.size() >= kMaxInterpreters) {
            warnings->push_back("interpreter list loops or is too long; stopped at " +
                                std::to_string(out.size()));
            break;
        }
        if (!plausibleInterpreter(interp)) {
            warnings->push_back("interpreter at " + hex(interp) + " is unreadable; skipped");
            break;
        }
        out.push_back(interp);
        if (!mem_.readPointer(interp + layout_.is_next, &interp)) break;
    }
    return out;
}

uint64_t InterpreterWalker::scanForInterpreter() {
    constexpr size_t kChunk = 1 << 16;
    std::vector<uint64_t> words(kChunk / 8);
    for (const auto& range : addrs_.scan_ranges) {
        for (uint64_t at = range.first & ~uint64_t{7}; at < range.second; at += kChunk) {
            size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, range.second - at));
            size_t got = mem_.readSome(at, words.data(), want) / 8;
            for (size_t i = 0; i < got; ++i)
                if (plausibleInterpreter(words[i], /*need_threads=*/true)) return words[i];
        }
    }
    return 0;
}

std::vector<PyThreadInfo> InterpreterWalker::walk(std::vector<std::string>* warnings) {
    std::vector<PyThreadInfo> threads;
    for (uint64_t interp : interpreters(warnings)) {
        int64_t interp_id = 0;
        if (layout_.is_id >= 0) mem_.readValue(interp + layout_.is_id, &interp_id);
        std::vector<uint64_t> tstates;
        std::unordered_set<uint64_t> seen;
        uint64_t tstate = 0;
        mem_.readPointer(interp + layout_.is_threads_head, &tstate);
        while (tstate != 0) {
            if (!seen.insert(tstate).second || tstates.size() >= kMaxThreads) {
                warnings->push_back("thread list loops or is too long; stopped");
                break;
            }
            tstates.push_back(tstate);
            if (!mem_.readPointer(tstate + layout_.ts_next, &tstate)) {
                warnings->push_back("thread state at " + hex(tstates.back()) +
                                    " is unreadable; later threads are missing");
                break;
            }
        }
        all_tstates_.insert(all_tstates_.end(), tstates.begin(), tstates.end());
        std::vector<PyThreadInfo> interp_threads;
        for (uint64_t ts : tstates) {
            PyThreadInfo thread;
            thread.tstate = ts;
            thread.interpreter_id = interp_id;
            thread.interp = interp;
            walkThread(ts, &thread);
            thread.gil = gilState(interp, ts);
            interp_threads.push_back(std::move(thread));
        }
        applyStackActivity(interp, collectingFlag(interp), &interp_threads);
        for (auto& t : interp_threads) threads.push_back(std::move(t));
    }
    orderByTid(&threads);
    return threads;
}

// As PyStack: the thread states of one OS thread together (where its first one was met), the
// interpreter it entered first (highest anchor) first; the others in the order walked.
void InterpreterWalker::orderByTid(std::vector<PyThreadInfo>* threads) {
    std::unordered_map<int, size_t> group_of;
    std::vector<size_t> group(threads->size());
    for (size_t i = 0; i < threads->size(); ++i) {
        int tid = (*threads)[i].tid;
        group[i] = tid == 0 ? i : group_of.emplace(tid, i).first->second;
    }
    std::vector<size_t> order(threads->size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        uint64_t x = (*threads)[a].stack_anchor, y = (*threads)[b].stack_anchor;
        if (group[a] != group[b]) return group[a] < group[b];
        if ((x == 0) != (y == 0)) return y == 0;
        return x > y;
    });
    std::vector<PyThreadInfo> sorted;
    sorted.reserve(threads->size());
    for (size_t i : order) sorted.push_back(std::move((*threads)[i]));
    *threads = std::move(sorted);
}

void InterpreterWalker::walkThread(uint64_t tstate, PyThreadInfo* thread) {
    std::vector<unsigned char> ts(static_cast<size_t>(layout_.ts_size));
    if (!mem_.read(tstate, ts.data(), ts.size())) {
        thread->warnings.push_back("thread state at " + hex(tstate) + " is unreadable");
        return;
    }
    uint64_t native =
        layout_.ts_native_thread_id >= 0 ? field<uint64_t>(ts, layout_.ts_native_thread_id) : 0;
    thread->thread_ident = field<uint64_t>(ts, layout_.ts_thread_id);
    thread->tid = layout_.ts_native_thread_id >= 0
                      ? static_cast<int>(native)
                      : threadId(tstate, field<uint64_t>(ts, layout_.ts_thread_id));
    uint64_t frame = 0;
    if (layout_.ts_frame >= 0) {
        frame = field<uint64_t>(ts, layout_.ts_frame);
    } else if (layout_.ts_current_frame >= 0) {
        frame = field<uint64_t>(ts, layout_.ts_current_frame);
    } else if (layout_.ts_cframe >= 0) {
        uint64_t cframe = field<uint64_t>(ts, layout_.ts_cframe);
        if (cframe != 0 && !mem_.readPointer(cframe + layout_.cframe_current, &frame)) {
            thread->warnings.push_back("current frame of thread is unreadable");
        }
    }
    if (layout_.frame_model == FrameModel::FrameObject) {
        walkFrameObjects(frame, thread);
    } else {
        walkInterpreterFrames(frame, thread);
    }
    std::reverse(thread->frames.begin(), thread->frames.end());
    thread->exception = exceptionInFlight(ts);
}

bool InterpreterWalker::isNone(uint64_t obj) const {
    return objects_.typeName(objects_.typeOf(obj)) == "NoneType";
}

// The exception the thread is raising (it is what the thread does now), else the innermost one
// an except block is handling (the handler items of enclosing blocks hold None when idle).
std::optional<PyExceptionInfo> InterpreterWalker::exceptionInFlight(
    const std::vector<unsigned char>& ts) {
    constexpr int kMaxHandlers = 64;
    uint64_t type = 0, value = 0, tb = 0;
    bool handled = false;
    if (layout_.ts_curexc_value >= 0) {
        value = field<uint64_t>(ts, layout_.ts_curexc_value);
        if (layout_.ts_curexc_type >= 0) type = field<uint64_t>(ts, layout_.ts_curexc_type);
        if (layout_.ts_curexc_traceback >= 0) tb = field<uint64_t>(ts, layout_.ts_curexc_traceback);
    }
    if (value == 0 && type == 0) {
        handled = true;
        if (layout_.ts_exc_value >= 0) {
            value = field<uint64_t>(ts, layout_.ts_exc_value);
            type = field<uint64_t>(ts, layout_.ts_exc_type);
            tb = field<uint64_t>(ts, layout_.ts_exc_traceback);
        } else if (layout_.ts_exc_info >= 0) {
            uint64_t item = field<uint64_t>(ts, layout_.ts_exc_info);
            for (int i = 0; item != 0 && i < kMaxHandlers; ++i) {
                uint64_t v = 0;
                if (!mem_.readPointer(item + layout_.exc_item_value, &v)) break;
                if (v != 0 && !isNone(v)) {
                    value = v;
                    break;
                }
                if (!mem_.readPointer(item + layout_.exc_item_previous, &item)) break;
            }
        }
    }
    if (value != 0 && isNone(value)) value = 0;
    if (type != 0 && isNone(type)) type = 0;
    if (tb != 0 && isNone(tb)) tb = 0;
    if (value == 0 && type == 0) return std::nullopt;
    PyExceptionInfo out;
    out.handled = handled;
    // The type object when the thread state has one (2.x may hold an unnormalized value: a
    // string or a tuple), else the value's own type.
    out.type = objects_.typeName(type != 0 ? type : objects_.typeOf(value));
    if (out.type.empty()) out.type = "???";
    if (value != 0) out.repr = exceptionRepr(value, out.type);
    if (tb == 0 && value != 0 && layout_.exc_traceback >= 0)
        mem_.readPointer(value + layout_.exc_traceback, &tb);
    if (tb != 0 && !isNone(tb)) out.traceback = tracebackFrames(tb);
    return out;
}

// As Python shows an exception: its type's name and the repr of its arguments, "Name(arg, ...)";
// the generic repr when the arguments cannot be read (not an exception instance).
std::string InterpreterWalker::exceptionRepr(uint64_t value, const std::string& type) {
    constexpr int64_t kMaxArgs = 8;
    uint64_t args = 0;
    int64_t count = 0;
    auto flags = objects_.typeFlags(objects_.typeOf(value));
    if (!flags || !mem_.readPointer(value + layout_.exc_args, &args) || args == 0 ||
        !objects_.typeFlags(objects_.typeOf(args)) ||
        (*objects_.typeFlags(objects_.typeOf(args)) & kTupleSubclass) == 0 ||
        !mem_.readValue(args + layout_.ob_size, &count) || count < 0)
        return reprs_.repr(value);
    std::vector<uint64_t> items(static_cast<size_t>(std::min(count, kMaxArgs)));
    if (!items.empty() && !mem_.read(args + layout_.seq_items, items.data(), items.size() * 8))
        return reprs_.repr(value);
    size_t dot = type.rfind('.');
    std::string out = (dot == std::string::npos ? type : type.substr(dot + 1)) + "(";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + reprs_.repr(items[i]);
    if (count > kMaxArgs) out += ", ...";
    return out + ")";
}

// A traceback's entries, from the frame that caught or re-raised to the one that raised.
std::vector<PyFrameInfo> InterpreterWalker::tracebackFrames(uint64_t tb) {
    constexpr size_t kMaxEntries = 1024;
    std::vector<PyFrameInfo> frames;
    std::unordered_set<uint64_t> seen;
    while (tb != 0 && frames.size() < kMaxEntries && seen.insert(tb).second) {
        uint64_t frame = 0, code_addr = 0;
        int32_t lasti = -1, lineno = -1;
        if (!mem_.readPointer(tb + layout_.tb_frame, &frame) ||
            !mem_.readValue(tb + layout_.tb_lasti, &lasti) ||
            !mem_.readValue(tb + layout_.tb_lineno, &lineno))
            break;
        if (layout_.frame_object_frame >= 0) {
            uint64_t iframe = 0;
            if (mem_.readPointer(frame + layout_.frame_object_frame, &iframe) && iframe != 0)
                mem_.readPointer(iframe + layout_.if_code, &code_addr);
        } else {
            mem_.readPointer(frame + layout_.f_code, &code_addr);
        }
        const CodeInfo& info = code(code_addr);
        PyFrameInfo f;
        f.frame_address = frame;
        f.code_address = code_addr;
        f.file = info.valid ? info.file : "???";
        f.function = info.valid ? info.function : "???";
        f.qualname = info.qualname;
        f.first_line = info.first_line;
        // 3.12+ leaves the line to be computed from the instruction offset.
        int64_t offset = layout_.lasti_counts_units ? int64_t{lasti} * 2 : lasti;
        f.line = lineno >= 0 ? lineno
                 : info.valid && lasti >= 0
                     ? lineForOffset(layout_.line_table, info.line_table, info.first_line, offset)
                     : -1;
        frames.push_back(std::move(f));
        if (!mem_.readPointer(tb + layout_.tb_next, &tb) || isNone(tb)) break;
    }
    return frames;
}

// One step of a frame walk: bounded (frames kept and steps taken, shims included), cycle-safe,
// and every failure ends the walk with a warning on the thread.
bool InterpreterWalker::readFrame(uint64_t frame, FrameCursor* cursor, PyThreadInfo* thread) {
    if (thread->frames.size() >= options_.max_frames || ++cursor->steps > 2 * options_.max_frames) {
        thread->truncated = true;
        thread->warnings.push_back("stack truncated at " + std::to_string(thread->frames.size()) +
                                   " frames");
        return false;
    }
    if (!cursor->seen.insert(frame).second) {
        thread->warnings.push_back("frame chain loops at " + hex(frame) + "; stopped");
        return false;
    }
    if (!mem_.read(frame, cursor->buf.data(), cursor->buf.size())) {
        thread->warnings.push_back("frame at " + hex(frame) +
                                   " is unreadable; older frames are missing");
        return false;
    }
    return true;
}

void InterpreterWalker::walkFrameObjects(uint64_t frame, PyThreadInfo* thread) {
    FrameCursor cursor(layout_.frame_size);
    for (; frame != 0; frame = field<uint64_t>(cursor.buf, layout_.f_back)) {
        if (!readFrame(frame, &cursor, thread)) return;
        const auto& buf = cursor.buf;
        int lasti = field<int32_t>(buf, layout_.f_lasti);
        int64_t offset = layout_.lasti_counts_units ? int64_t{lasti} * 2 : lasti;
        thread->frames.push_back(makeFrame(frame, field<uint64_t>(buf, layout_.f_code), offset,
                                           /*entry=*/true));
    }
}

void InterpreterWalker::walkInterpreterFrames(uint64_t frame, PyThreadInfo* thread) {
    FrameCursor cursor(layout_.frame_size);
    bool explicit_entry = layout_.if_is_entry >= 0;
    for (; frame != 0; frame = field<uint64_t>(cursor.buf, layout_.if_previous)) {
        if (!readFrame(frame, &cursor, thread)) return;
        const auto& buf = cursor.buf;
        int owner = field<uint8_t>(buf, layout_.if_owner);
        bool entry_marker = owner == layout_.owner_cstack ||
                            (explicit_entry && field<uint8_t>(buf, layout_.if_is_entry) != 0);
        if (thread->stack_anchor == 0 && entry_marker) thread->stack_anchor = frame;
        if (owner == layout_.owner_cstack) {
            // A shim pushed by a C call into the eval loop: the frame above it was entered
            // from C. It is not a Python frame itself.
            if (!thread->frames.empty()) thread->frames.back().is_entry = true;
            continue;
        }
        uint64_t code_addr = field<uint64_t>(buf, layout_.if_code);
        uint64_t instr = field<uint64_t>(buf, layout_.if_instr);
        const CodeInfo& info = code(code_addr);
        uint64_t code_start = code_addr + layout_.co_code_adaptive;
        // Frames whose first instructions have not run yet are not visible to Python either.
        if (info.valid && owner != layout_.owner_generator &&
            instr < code_start + 2 * static_cast<uint64_t>(info.first_traceable))
            continue;
        int64_t offset = static_cast<int64_t>(instr - code_start);
        bool entry = explicit_entry ? field<uint8_t>(buf, layout_.if_is_entry) != 0 : false;
        thread->frames.push_back(makeFrame(frame, code_addr, offset, entry));
    }
    if (!explicit_entry && !thread->frames.empty()) thread->frames.back().is_entry = true;
}

PyFrameInfo InterpreterWalker::makeFrame(uint64_t frame, uint64_t code_addr, int64_t byte_offset,
                                         bool entry) {
    PyFrameInfo out;
    out.frame_address = frame;
    out.code_address = code_addr;
    out.is_entry = entry;
    const CodeInfo& info = code(code_addr);
    if (!info.valid) {
        out.file = "???";
        out.function = "???";
        return out;
    }
    out.file = info.file;
    out.function = info.function;
    out.qualname = info.qualname;
    out.first_line = info.first_line;
    if (layout_.line_table == LineTable::Locations311 && byte_offset >= 0) {
        Location where = locationForOffset(info.line_table, info.first_line, byte_offset);
        out.line = where.line;
        out.end_line = where.end_line;
        out.column = where.column;
        out.end_column = where.end_column;
    } else {
        out.line = byte_offset < 0 ? info.first_line
                                   : lineForOffset(layout_.line_table, info.line_table,
                                                   info.first_line, byte_offset);
    }
    if (options_.locals) collectLocals(frame, info, &out);
    return out;
}

void InterpreterWalker::readNames(const std::vector<unsigned char>& buf, CodeInfo* info) {
    constexpr int64_t kMaxNames = 4096;
    uint64_t names = field<uint64_t>(buf, layout_.co_varnames);
    int64_t count = 0;
    if (!mem_.readValue(names + layout_.ob_size, &count) || count < 0) return;
    std::vector<uint64_t> items(static_cast<size_t>(std::min(count, kMaxNames)));
    if (!mem_.read(names + layout_.seq_items, items.data(), items.size() * 8)) return;
    for (uint64_t item : items)
        info->varnames.push_back(objects_.readText(item, 256).value_or("?"));
    if (layout_.co_localspluskinds >= 0) {
        auto kinds = objects_.readBytes(field<uint64_t>(buf, layout_.co_localspluskinds),
                                        info->varnames.size());
        if (kinds) info->kinds = *kinds;
    }
    int flags = field<int32_t>(buf, layout_.co_flags);
    constexpr int kVarArgs = 0x4, kVarKeywords = 0x8;  // CO_VARARGS, CO_VARKEYWORDS
    info->nargs = field<int32_t>(buf, layout_.co_argcount) + ((flags & kVarArgs) ? 1 : 0) +
                  ((flags & kVarKeywords) ? 1 : 0);
    if (layout_.co_kwonlyargcount >= 0)
        info->nargs += field<int32_t>(buf, layout_.co_kwonlyargcount);
    info->nlocals = layout_.co_nlocals >= 0 ? field<int32_t>(buf, layout_.co_nlocals)
                                            : static_cast<int>(info->varnames.size());
}

void InterpreterWalker::collectLocals(uint64_t frame, const CodeInfo& info, PyFrameInfo* out) {
    constexpr unsigned char kCellOrFree = 0x40 | 0x80;  // CO_FAST_CELL | CO_FAST_FREE
    size_t count = std::min(info.varnames.size(), static_cast<size_t>(std::max(info.nlocals, 0)));
    std::vector<uint64_t> values(count);
    if (count == 0 || !mem_.read(frame + layout_.f_localsplus, values.data(), count * 8)) return;
    for (size_t i = 0; i < count; ++i) {
        uint64_t value = values[i];
        if (value == 0) continue;  // not bound yet
        bool is_cell = i < info.kinds.size() && (info.kinds[i] & kCellOrFree) != 0;
        if (is_cell && objects_.typeName(objects_.typeOf(value)) == "cell") {
            // Show what the closure cell holds, not the cell.
            if (!mem_.readPointer(value + layout_.cell_ref, &value) || value == 0) continue;
        }
        auto& target = static_cast<int>(i) < info.nargs ? out->arguments : out->locals;
        target.emplace_back(info.varnames[i], reprs_.repr(value));
    }
}

bool InterpreterWalker::isCodeObject(uint64_t addr) {
    return objects_.typeName(objects_.typeOf(addr)) == "code";
}

const InterpreterWalker::CodeInfo& InterpreterWalker::code(uint64_t addr) {
    auto it = codes_.find(addr);
    if (it != codes_.end()) return it->second;
    CodeInfo info;
    std::vector<unsigned char> buf(static_cast<size_t>(layout_.co_size));
    if (addr != 0 && isCodeObject(addr) && mem_.read(addr, buf.data(), buf.size())) {
        auto file = objects_.readText(field<uint64_t>(buf, layout_.co_filename), kMaxNameChars);
        auto name = objects_.readText(field<uint64_t>(buf, layout_.co_name), kMaxNameChars);
        auto table = objects_.readBytes(field<uint64_t>(buf, layout_.co_linetable), kMaxLineTable);
        if (file && name) {
            info.valid = true;
            info.file = *file;
            info.function = *name;
            info.first_line = field<int32_t>(buf, layout_.co_firstlineno);
            if (layout_.co_firsttraceable >= 0)
                info.first_traceable = field<int32_t>(buf, layout_.co_firsttraceable);
            if (layout_.co_qualname >= 0)
                info.qualname =
                    objects_.readText(field<uint64_t>(buf, layout_.co_qualname), kMaxNameChars);
            if (table) info.line_table = std::move(*table);
            // Locals need the names too: taken from the same copy of the code object.
            if (options_.locals) readNames(buf, &info);
        }
    }
    return codes_.emplace(addr, std::move(info)).first->second;
}

// Before 3.11 a thread state only knows its pthread_t: the address of glibc's struct pthread,
// which holds the kernel tid at a fixed offset. The offset is confirmed against the known tids.
int InterpreterWalker::threadId(uint64_t tstate, uint64_t pthread_id) {
    (void)tstate;
    auto tidAt = [&](uint64_t pthread, int64_t offset) {
        int32_t tid = 0;
        return pthread != 0 && mem_.readValue(pthread + offset, &tid) ? tid : 0;
    };
    if (!pthread_offset_searched_) {
        pthread_offset_searched_ = true;
        std::vector<uint64_t> pthreads;
        for (uint64_t ts : all_tstates_) {
            uint64_t p = 0;
            if (mem_.readPointer(ts + layout_.ts_thread_id, &p) && p != 0) pthreads.push_back(p);
        }
        auto matchesAll = [&](int64_t offset) {
            if (pthreads.empty()) return false;
            for (uint64_t p : pthreads)
                if (tid_set_.count(tidAt(p, offset)) == 0) return false;
            return true;
        };
        for (int64_t off : kGlibcTidOffsets)
            if (matchesAll(off)) pthread_tid_offset_ = off;
        for (int64_t off = 0; !pthread_tid_offset_ && off < kPthreadScanBytes; off += 4)
            if (matchesAll(off)) pthread_tid_offset_ = off;
    }
    if (!pthread_tid_offset_) return 0;
    int tid = tidAt(pthread_id, *pthread_tid_offset_);
    return tid_set_.count(tid) ? tid : 0;
}

int InterpreterWalker::gilState(uint64_t interp, uint64_t tstate) {
    uint64_t holder = 0;
    if (layout_.is_ceval_gil >= 0) {
        uint64_t gil = 0;
        int32_t locked = 0;
        if (!mem_.readPointer(interp + layout_.is_ceval_gil, &gil) || gil == 0 ||
            !mem_.readValue(gil + layout_.gil_locked, &locked) ||
            !mem_.readPointer(gil + layout_.gil_last_holder, &holder))
            return -1;
        return locked != 0 && holder == tstate ? 1 : 0;
    }
    if (layout_.rt_gil_tstate_current >= 0 && addrs_.runtime) {
        if (!mem_.readPointer(*addrs_.runtime + layout_.rt_gil_tstate_current, &holder)) return -1;
        return holder == tstate ? 1 : 0;
    }
    if (addrs_.tstate_current && mem_.readPointer(*addrs_.tstate_current, &holder))
        return holder == tstate ? 1 : 0;
    return -1;
}

// The interpreter's "a collection is running" flag: 1, 0, or -1 when it cannot be read.
int InterpreterWalker::collectingFlag(uint64_t interp) {
    int32_t collecting = 0;
    bool known = false;
    if (layout_.is_gc_collecting >= 0) {
        known = mem_.readValue(interp + layout_.is_gc_collecting, &collecting);
    } else if (layout_.rt_gc_collecting >= 0 && addrs_.runtime) {
        known = mem_.readValue(*addrs_.runtime + layout_.rt_gc_collecting, &collecting);
    } else if (addrs_.gc_collecting) {
        known = mem_.readValue(*addrs_.gc_collecting, &collecting);
    }
    return known ? (collecting != 0) : -1;
}

// The GIL's own record: whether it is locked and which thread state took it last (3.6+).
InterpreterWalker::GilRecord InterpreterWalker::gilRecord(uint64_t interp) {
    GilRecord r;
    std::optional<uint64_t> gil;
    if (layout_.is_ceval_gil >= 0) {
        uint64_t p = 0;
        if (mem_.readPointer(interp + layout_.is_ceval_gil, &p) && p != 0) gil = p;
    } else if (layout_.rt_ceval_gil >= 0 && addrs_.runtime) {
        gil = *addrs_.runtime + layout_.rt_ceval_gil;
    }
    int32_t locked = 0;
    if (gil) {
        r.known = mem_.readValue(*gil + layout_.gil_locked, &locked) &&
                  mem_.readPointer(*gil + layout_.gil_last_holder, &r.last_holder);
    } else if (addrs_.gil_locked && addrs_.gil_last_holder) {
        r.known = mem_.readValue(*addrs_.gil_locked, &locked) &&
                  mem_.readPointer(*addrs_.gil_last_holder, &r.last_holder);
    }
    r.locked = locked != 0;
    return r;
}

// Refines each thread's GIL state (waiting, dropping) and says which thread collects.
//
// Waiting and dropping need evidence that the call is live: the stack scan only nominates
// candidates, a real unwind must show take_gil (drop_gil) as the interpreter's innermost frame
// with nothing but the wait below it, and the GIL's record must agree: only the last holder can be
// dropping it, and nobody waits for a GIL that they hold or that is free (unless a dropper is
// handing it over). Without an unwind
// (no unwinder, a process not stopped) no flag is given: a wrong flag is worse than none.
//
// A collector return address anywhere on the live stack counts only while a collection runs.
void InterpreterWalker::applyStackActivity(uint64_t interp, int collecting,
                                           std::vector<PyThreadInfo>* threads) {
    std::vector<StackActivity> activity(threads->size());
    std::vector<StackScanner::Pcs> unwound(threads->size());
    std::vector<bool> tried(threads->size(), false);
    auto unwind = [&](size_t i) -> const StackScanner::Pcs& {
        if (!tried[i] && options_.unwind_thread && (*threads)[i].tid != 0)
            unwound[i] = options_.unwind_thread((*threads)[i].tid);
        tried[i] = true;
        return unwound[i];
    };
    size_t candidates = 0;
    for (size_t i = 0; i < threads->size(); ++i) {
        auto sp = options_.stack_pointers.find((*threads)[i].tid);
        if (options_.scanner == nullptr || sp == options_.stack_pointers.end()) continue;
        activity[i] = options_.scanner->scan(sp->second);
        candidates += activity[i].collector_on_stack;
        if (options_.confirm_all) activity[i].in_take_gil = activity[i].in_drop_gil = true;
    }
    // The GIL's record decides who may be dropping or waiting before anything is unwound (a
    // whole process asleep has stale GIL addresses on every stack, and no waiter).
    GilRecord gil = options_.scanner != nullptr ? gilRecord(interp) : GilRecord{};
    bool handing_over = false;
    for (size_t i = 0; i < threads->size(); ++i) {
        bool may_drop = !gil.known || gil.last_holder == (*threads)[i].tstate;
        activity[i].in_drop_gil =
            activity[i].in_drop_gil && may_drop && options_.scanner->confirm(unwind(i)).in_drop_gil;
        handing_over |= activity[i].in_drop_gil;
    }
    for (size_t i = 0; i < threads->size(); ++i) {
        const PyThreadInfo& t = (*threads)[i];
        bool holds = t.gil == 1 || (gil.known && gil.locked && gil.last_holder == t.tstate);
        // Nobody waits for a GIL that is free, unless a dropper is handing it over.
        bool may_wait = !holds && (!gil.known || gil.locked || handing_over);
        activity[i].in_take_gil =
            activity[i].in_take_gil && may_wait && options_.scanner->confirm(unwind(i)).in_take_gil;
    }
    if (collecting > 0 && candidates > 1 && options_.unwind_thread) {
        // A stale collector address left in a live frame of another thread: only a real
        // unwind tells which thread is inside the collector now (rare, so paid only here).
        for (size_t i = 0; i < threads->size(); ++i) {
            if (!activity[i].collector_on_stack) continue;
            const auto& pcs = unwind(i);
            if (pcs.empty()) continue;
            activity[i].collector_on_stack = std::any_of(pcs.begin(), pcs.end(), [&](auto& f) {
                return options_.scanner->inCollector(f.second ? f.first : f.first - 1);
            });
        }
    }
    size_t claimants = std::count_if(activity.begin(), activity.end(),
                                     [](const StackActivity& a) { return a.collector_on_stack; });
    // One collection runs at a time: several threads still claiming it (their stacks could not
    // be unwound, as with --no-block) are each unknown rather than all "collecting".
    for (size_t i = 0; i < threads->size(); ++i) {
        PyThreadInfo& t = (*threads)[i];
        const StackActivity& a = activity[i];
        if (a.in_drop_gil) {
            t.gil = kGilDropping;
        } else if (a.in_take_gil) {
            t.gil = kGilWaiting;
        }
        if (collecting <= 0) {
            t.gc = collecting;
        } else if (claimants > 0) {
            t.gc = a.collector_on_stack ? (claimants > 1 ? -1 : 1) : 0;
        } else {
            // No stack evidence: the collector runs in the thread that holds the GIL.
            t.gc = t.gil < 0 ? -1 : t.gil == 1;
        }
    }
}

void splitNativeStacks(std::vector<PyThreadInfo>* threads, const std::string& eval_function) {
    for (size_t first = 0; first < threads->size();) {
        size_t end = first + 1;
        while (end < threads->size() && (*threads)[end].tid == (*threads)[first].tid &&
               (*threads)[first].tid != 0)
            ++end;
        size_t count = end - first;
        size_t canonical = first;
        while (canonical < end && (*threads)[canonical].native_frames.empty()) ++canonical;
        if (count < 2 || canonical == end) {
            first = end;
            continue;
        }
        // Frames are outermost first, as the interpreters were entered.
        std::vector<NativeFrameInfo> stack = (*threads)[canonical].native_frames;
        std::vector<size_t> evals;
        for (size_t i = 0; i < stack.size(); ++i)
            if (stack[i].function.find(eval_function) != std::string::npos) evals.push_back(i);
        std::vector<size_t> entries(count);
        size_t total = 0;
        for (size_t k = 0; k < count; ++k) {
            const auto& frames = (*threads)[first + k].frames;
            entries[k] = static_cast<size_t>(std::count_if(
                frames.begin(), frames.end(), [](const PyFrameInfo& f) { return f.is_entry; }));
            total += entries[k];
        }
        if (!evals.empty() && total == evals.size()) {
            size_t cursor = 0;
            for (size_t k = 0; k < count; ++k) {
                auto& native = (*threads)[first + k].native_frames;
                if (entries[k] == 0) {
                    native.clear();
                    continue;
                }
                // The C frames between two interpreters' eval loops (the call that runs the
                // other interpreter) belong to the caller's.
                size_t from = cursor == 0 ? 0 : evals[cursor];
                cursor += entries[k];
                size_t to = cursor < evals.size() ? evals[cursor] : stack.size();
                native.assign(stack.begin() + static_cast<std::ptrdiff_t>(from),
                              stack.begin() + static_cast<std::ptrdiff_t>(to));
            }
        }
        first = end;
    }
}

}  // namespace triage::cpython
