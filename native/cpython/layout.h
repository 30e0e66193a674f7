// Where CPython keeps what we read, per minor version (x86-64). The decoding code asks the layout
// for "offset of previous frame" and never switches on the version itself.
//
// Offsets were read from each version's own structs (gdb `&((T*)0)->field` on the debug builds
// of 2.7.18, 3.6.15, 3.7.16, 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1 and 3.13.0). They are ABI
// within a minor version. A field that does not exist in a version is -1.
#pragma once

#include <cstdint>

namespace triage::cpython {

enum class FrameModel {
    FrameObject,       // <= 3.10: PyFrameObject linked by f_back, one C eval call per frame
    InterpreterFrame,  // >= 3.11: _PyInterpreterFrame linked by previous, inlined calls
};

enum class LineTable {
    Lnotab27,      // 2.7: (addr, line) byte pairs, unsigned line increments
    Lnotab36,      // 3.6-3.9: same pairs, signed line increments
    Linetable310,  // 3.10: (bytes, line delta) pairs, -128 = no line
    Locations311   // 3.11+: PEP 657 location table
};

enum class DictFormat {
    OpenAddressing27,  // 2.7: ma_mask + 1 slots of {hash, key, value}
    Keys36,            // 3.6-3.10: PyDictKeysObject, dk_size then an index table, then entries
    Keys311,           // 3.11+: dk_log2_size/dk_kind header; unicode-keyed entries without hash
};

// Where an instance of a Python class keeps its attributes.
enum class InstanceDict {
    DictOffset,    // <= 3.10: a dict pointer at the type's tp_dictoffset
    ManagedSplit,  // 3.11: before the object, values at -32 (keys: the type's cached keys)
                   //   and a dict at -24; one of the two is set
    DictOrValues,  // 3.12: one tagged word at -24: values - 1 (odd), else a dict
    InlineValues,  // 3.13: values inline at tp_basicsize (valid while no dict took them
                   //   over), a dict pointer at -24
};

struct Layout {
    int major = 0, minor = 0;

    // _PyRuntimeState (3.7+)
    int64_t rt_interp_head = -1;
    int64_t rt_finalizing = -1;  // the thread state finalizing the runtime; null while it runs
    int64_t rt_gil_tstate_current = -1;  // 3.7-3.11: the thread state holding the GIL
    int64_t rt_gc_collecting = -1;       // 3.7-3.8
    int64_t rt_ceval_gil = -1;           // 3.7-3.11: struct _gil_runtime_state, inline

    // PyInterpreterState
    int64_t is_next = -1;
    int64_t is_threads_head = -1;
    int64_t is_id = -1;
    int64_t is_builtins = -1;       // a dict: confirms a guessed interpreter state
    int64_t is_modules = -1;        // sys.modules (3.12+: imports.modules)
    int64_t is_gc_collecting = -1;  // 3.9+
    int64_t is_ceval_gil = -1;      // 3.12+: pointer to struct _gil_runtime_state
    int64_t gil_last_holder = 8;    // inside struct _gil_runtime_state (3.7+)
    int64_t gil_locked = 16;

    // PyThreadState
    int64_t ts_next = -1;
    int64_t ts_interp = -1;
    int64_t ts_frame = -1;             // <= 3.10: PyFrameObject*
    int64_t ts_cframe = -1;            // 3.11-3.12: _PyCFrame*
    int64_t cframe_current = -1;       //   ... its current_frame
    int64_t ts_current_frame = -1;     // 3.13: _PyInterpreterFrame*
    int64_t ts_thread_id = -1;         // pthread_t
    int64_t ts_native_thread_id = -1;  // 3.11+: the OS thread id
    int64_t ts_size = 0;
    // The exception in flight. Being raised: curexc_* (2.7-3.11), current_exception (3.12+).
    int64_t ts_curexc_type = -1;
    int64_t ts_curexc_value = -1;
    int64_t ts_curexc_traceback = -1;
    // Being handled: exc_* in the thread state (2.7, 3.6), else a stack of handler items.
    int64_t ts_exc_type = -1;
    int64_t ts_exc_value = -1;
    int64_t ts_exc_traceback = -1;
    int64_t ts_exc_info = -1;        // 3.7+: _PyErr_StackItem* of the innermost handler
    int64_t exc_item_value = -1;     //   its exc_value
    int64_t exc_item_previous = -1;  //   the enclosing handler's item
    int64_t exc_traceback = -1;      // PyBaseExceptionObject.traceback (3.x)
    int64_t exc_args = 24;           // PyBaseExceptionObject.args, a tuple
    int64_t tb_next = 16, tb_frame = 24, tb_lasti = 32, tb_lineno = 36;  // PyTracebackObject
    int64_t frame_object_frame = -1;  // 3.11+: PyFrameObject.f_frame, its _PyInterpreterFrame

    // An exported function whose first call is take_gil: finds take_gil without local symbols.
    const char* take_gil_caller = "PyEval_RestoreThread";
    // The eval loop's C function: one native frame per entry frame of the Python stack.
    const char* eval_function = "_PyEval_EvalFrameDefault";

    FrameModel frame_model = FrameModel::FrameObject;
    // PyFrameObject (<= 3.10)
    int64_t f_back = -1;
    int64_t f_code = -1;
    int64_t f_lasti = -1;
    bool lasti_counts_units = false;  // 3.10 counts 2-byte code units, older versions bytes
    // _PyInterpreterFrame (3.11+)
    int64_t if_previous = -1;
    int64_t if_code = -1;      // f_code, f_executable in 3.13
    int64_t if_instr = -1;     // prev_instr (3.11-3.12) or instr_ptr (3.13)
    int64_t if_is_entry = -1;  // 3.11 only
    int64_t if_owner = -1;
    int owner_generator = 1;
    int owner_cstack = -1;   // 3.12+: shim frame pushed by each C call into the eval loop
    int64_t frame_size = 0;  // bytes read per frame

    // PyCodeObject
    int64_t co_argcount = -1;
    int64_t co_firstlineno = -1;
    int64_t co_filename = -1;
    int64_t co_name = -1;
    int64_t co_qualname = -1;        // 3.11+
    int64_t co_linetable = -1;       // co_lnotab before 3.10
    int64_t co_code_adaptive = -1;   // 3.11+: bytecode stored inline
    int64_t co_firsttraceable = -1;  // 3.11+
    int64_t co_kwonlyargcount = -1;  // 3.x
    int64_t co_flags = -1;
    int64_t co_nlocals = -1;          // <= 3.10: how many of f_localsplus are co_varnames
    int64_t co_varnames = -1;         // tuple of local names; co_localsplusnames in 3.11+
    int64_t co_localspluskinds = -1;  // 3.11+: bytes, one kind per local
    int64_t f_localsplus = -1;        // <= 3.10 frame object; _PyInterpreterFrame in 3.11+
    int64_t co_size = 0;
    LineTable line_table = LineTable::Lnotab36;

    // Objects: PyObject_HEAD and the builtins whose values the reprs read. Most are the same in
    // every version; the layout of a version that differs says so.
    int64_t ob_type = 8;
    int64_t ob_size = 16;  // PyVarObject.ob_size: length of tuples, lists, str, bytes; long size
    int64_t tp_name = 24;
    int64_t tp_flags = 168;
    int64_t tp_basicsize = 32;
    int64_t tp_dictoffset = 288;
    int64_t ht_cached_keys = -1;  // 3.11+: PyHeapTypeObject.ht_cached_keys (shared keys)
    InstanceDict instance_dict = InstanceDict::DictOffset;
    int64_t module_dict = 16;  // PyModuleObject.md_dict
    // threading.Thread's attribute that holds its name: 2.7 mangles the private name.
    const char* thread_name_attr = "_name";
    int64_t unicode_state = 32;
    int64_t unicode_ascii_size = 48;    // sizeof(PyASCIIObject): data of compact ASCII strings
    int64_t unicode_compact_size = 72;  // sizeof(PyCompactUnicodeObject)
    int64_t bytes_data = 32;            // PyBytesObject.ob_sval (2.7 PyStringObject: 36)
    int64_t scalar_value = 16;          // PyFloatObject.ob_fval, 2.7 PyIntObject.ob_ival
    int64_t long_digits = 24;           // PyLongObject.ob_digit
    bool long_tag = false;   // 3.12+: lv_tag (digit count << 3 | sign) replaces a signed ob_size
    int64_t seq_items = 24;  // PyTupleObject.ob_item (inline), PyListObject.ob_item (a pointer)
    int64_t cell_ref = 16;   // PyCellObject.ob_ref
    bool text_is_bytes = false;  // 2.7: str is bytes (b'' unprefixed), int and long differ
    DictFormat dict_format = DictFormat::Keys36;
    int64_t dict_keys = 32;             // ma_keys (2.7: ma_mask)
    int64_t dict_values = 40;           // ma_values (2.7: ma_table)
    int64_t dict_values_header = 0;     // 3.13: the split values start after an 8-byte prefix
    int64_t set_mask = 32;              // PySetObject.mask
    int64_t set_table = 40;             // PySetObject.table
    bool set_entry_hash_first = false;  // 2.7 setentry is {hash, key}; 3.x {key, hash}
};

// The layout of a CPython minor version, or nullptr when the version is not supported.
const Layout* layoutFor(int major, int minor);

}  // namespace triage::cpython
