#include "layout.h"

namespace triage::cpython {

namespace {

Layout frameObjectBase(int major, int minor) {
    Layout l;
    l.major = major;
    l.minor = minor;
    l.frame_model = FrameModel::FrameObject;
    l.is_next = 0;
    l.is_threads_head = 8;
    l.f_back = 24;
    l.f_code = 32;
    return l;
}

Layout py27() {
    Layout l = frameObjectBase(2, 7);
    l.ts_next = 0, l.ts_interp = 8, l.ts_frame = 16, l.ts_thread_id = 144, l.ts_size = 168;
    l.is_builtins = 32, l.is_modules = 16;
    l.thread_name_attr = "_Thread__name";
    l.f_lasti = 120, l.frame_size = 128;
    l.co_argcount = 16, l.co_filename = 80, l.co_name = 88, l.co_firstlineno = 96;
    l.co_linetable = 104, l.co_size = 128;
    l.co_nlocals = 20, l.co_flags = 28, l.co_varnames = 56, l.f_localsplus = 376;
    l.line_table = LineTable::Lnotab27;
    l.bytes_data = 36, l.text_is_bytes = true, l.set_entry_hash_first = true;
    l.dict_format = DictFormat::OpenAddressing27;
    l.ts_curexc_type = 72, l.ts_curexc_value = 80, l.ts_curexc_traceback = 88;
    l.ts_exc_type = 96, l.ts_exc_value = 104, l.ts_exc_traceback = 112;
    l.eval_function = "PyEval_EvalFrameEx";
    l.take_gil_caller = nullptr;  // no take_gil: see kLockAcquireFunctions
    return l;
}

Layout py36() {
    Layout l = frameObjectBase(3, 6);
    l.ts_next = 8, l.ts_interp = 16, l.ts_frame = 24, l.ts_thread_id = 152, l.ts_size = 160;
    l.is_builtins = 40, l.is_modules = 16;
    l.f_lasti = 120, l.frame_size = 128;
    l.co_argcount = 16, l.co_firstlineno = 36, l.co_filename = 96, l.co_name = 104;
    l.co_linetable = 112, l.co_size = 144;
    l.co_kwonlyargcount = 20, l.co_nlocals = 24, l.co_flags = 32, l.co_varnames = 64;
    l.f_localsplus = 376;
    l.ts_curexc_type = 80, l.ts_curexc_value = 88, l.ts_curexc_traceback = 96;
    l.ts_exc_type = 104, l.ts_exc_value = 112, l.ts_exc_traceback = 120;
    l.exc_traceback = 32;
    return l;
}

// 3.7 to 3.10 share the thread and frame layout; the runtime and code object move.
Layout py37to310(int minor) {
    Layout l = frameObjectBase(3, minor);
    l.ts_next = 8, l.ts_interp = 16, l.ts_frame = 24, l.ts_thread_id = 176, l.ts_size = 184;
    l.f_lasti = minor >= 10 ? 96 : 104;
    l.lasti_counts_units = minor >= 10;
    l.frame_size = 112;
    l.rt_interp_head = minor == 7 ? 24 : 32;
    l.rt_finalizing = minor == 7 ? 8 : 16;
    l.is_id = minor <= 8 ? 16 : 24;
    l.is_builtins = minor == 7 ? 64 : minor == 8 ? 80 : 880;
    l.is_modules = minor == 7 ? 40 : minor == 8 ? 56 : 856;
    if (minor == 7) l.rt_gil_tstate_current = 1480, l.rt_gc_collecting = 632;
    if (minor == 8) l.rt_gil_tstate_current = 1368, l.rt_gc_collecting = 544;
    if (minor >= 9) l.rt_gil_tstate_current = 568, l.is_gc_collecting = 816;
    l.rt_ceval_gil = minor == 7 ? 1264 : minor == 8 ? 1152 : 352;
    if (minor == 7) {
        l.co_argcount = 16, l.co_firstlineno = 36, l.co_filename = 96, l.co_name = 104;
        l.co_linetable = 112, l.co_size = 144;
        l.co_kwonlyargcount = 20, l.co_nlocals = 24, l.co_flags = 32, l.co_varnames = 64;
    } else {
        l.co_argcount = 16, l.co_firstlineno = 40, l.co_filename = 104, l.co_name = 112;
        l.co_linetable = 120, l.co_size = 176;
        l.co_kwonlyargcount = 24, l.co_nlocals = 28, l.co_flags = 36, l.co_varnames = 72;
    }
    l.f_localsplus = minor >= 10 ? 352 : 360;
    l.ts_curexc_type = 88, l.ts_curexc_value = 96, l.ts_curexc_traceback = 104;
    l.ts_exc_info = 144, l.exc_item_value = 8, l.exc_item_previous = 24;
    l.exc_traceback = 32;
    l.line_table = minor >= 10 ? LineTable::Linetable310 : LineTable::Lnotab36;
    return l;
}

Layout interpreterFrameBase(int minor) {
    Layout l;
    l.major = 3;
    l.minor = minor;
    l.frame_model = FrameModel::InterpreterFrame;
    l.line_table = LineTable::Locations311;
    l.ts_next = 8, l.ts_interp = 16;
    l.frame_size = 80;
    l.co_filename = 112, l.co_name = 120, l.co_qualname = 128, l.co_linetable = 136;
    l.dict_format = DictFormat::Keys311;
    l.long_tag = minor >= 12;
    l.dict_values_header = minor >= 13 ? 8 : 0;
    l.co_flags = 48, l.co_varnames = 96, l.co_localspluskinds = 104, l.f_localsplus = 72;
    l.exc_item_value = 0, l.exc_item_previous = 8, l.exc_traceback = 40;
    l.frame_object_frame = 24;
    l.ht_cached_keys = minor == 11 ? 872 : 880;
    l.instance_dict = minor == 11   ? InstanceDict::ManagedSplit
                      : minor == 12 ? InstanceDict::DictOrValues
                                    : InstanceDict::InlineValues;
    return l;
}

Layout py311() {
    Layout l = interpreterFrameBase(11);
    l.rt_interp_head = 40, l.rt_gil_tstate_current = 576, l.rt_ceval_gil = 360;
    l.rt_finalizing = 24;
    l.is_next = 0, l.is_threads_head = 16, l.is_id = 48, l.is_gc_collecting = 848;
    l.is_builtins = 912, l.is_modules = 888;
    l.ts_cframe = 56, l.cframe_current = 8, l.ts_thread_id = 152, l.ts_native_thread_id = 160;
    l.ts_size = 168;
    l.ts_curexc_type = 96, l.ts_curexc_value = 104, l.ts_curexc_traceback = 112;
    l.ts_exc_info = 120;
    l.if_code = 32, l.if_previous = 48, l.if_instr = 56, l.if_is_entry = 68, l.if_owner = 69;
    l.co_argcount = 56, l.co_firstlineno = 72, l.co_firsttraceable = 168;
    l.co_kwonlyargcount = 64;
    l.co_code_adaptive = 184, l.co_size = 192;
    return l;
}

Layout py312() {
    Layout l = interpreterFrameBase(12);
    l.rt_interp_head = 40;
    l.rt_finalizing = 24;
    l.is_next = 0, l.is_threads_head = 72, l.is_id = 8, l.is_gc_collecting = 312;
    l.is_builtins = 360, l.is_modules = 944;
    l.is_ceval_gil = 384;
    l.ts_cframe = 56, l.cframe_current = 0, l.ts_thread_id = 136, l.ts_native_thread_id = 144;
    l.ts_size = 152;
    l.ts_curexc_value = 96, l.ts_exc_info = 104;
    l.if_code = 0, l.if_previous = 8, l.if_instr = 56, l.if_owner = 70, l.owner_cstack = 3;
    l.co_argcount = 52, l.co_firstlineno = 68, l.co_firsttraceable = 176;
    l.co_kwonlyargcount = 60;
    l.co_code_adaptive = 192, l.co_size = 200;
    l.unicode_ascii_size = 40, l.unicode_compact_size = 56;
    return l;
}

Layout py313() {
    Layout l = interpreterFrameBase(13);
    l.rt_interp_head = 632;
    l.rt_finalizing = 608;
    l.is_next = 7264, l.is_threads_head = 7344, l.is_id = 7272, l.is_gc_collecting = 7600;
    l.is_builtins = 7648, l.is_modules = 7656;
    l.is_ceval_gil = 16;
    l.take_gil_caller = nullptr;  // PyEval_RestoreThread attaches the thread state first
    l.ts_current_frame = 72, l.ts_thread_id = 152, l.ts_native_thread_id = 160;
    l.ts_size = 168;
    l.ts_curexc_value = 112, l.ts_exc_info = 120;
    l.if_code = 0, l.if_previous = 8, l.if_instr = 56, l.if_owner = 70, l.owner_cstack = 3;
    l.co_argcount = 52, l.co_firstlineno = 68, l.co_firsttraceable = 184;
    l.co_kwonlyargcount = 60;
    l.co_code_adaptive = 200, l.co_size = 208;
    l.unicode_ascii_size = 40, l.unicode_compact_size = 56;
    return l;
}

}  // namespace

const Layout* layoutFor(int major, int minor) {
    static const Layout layouts[] = {py27(),       py36(),       py37to310(7),
                                     py37to310(8), py37to310(9), py37to310(10),
                                     py311(),      py312(),      py313()};
    for (const auto& l : layouts)
        if (l.major == major && l.minor == minor) return &l;
    return nullptr;
}

}  // namespace triage::cpython
