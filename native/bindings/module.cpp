// The only file that knows pybind11: builds the frozen objects of `triage.model` from the
// analyzer's plain structs, once, so that Python never sees an intermediate shape.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <string>

#include "analysis.h"
#include "cpython/stack_scan.h"
#include "errors.h"
#include "file_digest.h"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace triage;

namespace {

// The classes and enum members of triage.model, looked up once per analysis (the module is
// cached in sys.modules, so this is a few attribute reads).
struct Model {
    py::object analysis, source, core_info, thread, frame, exception;
    py::object python_frame, native_frame;   // FrameKind members
    py::object core_source, process_source;  // SourceKind members
    py::object gil_held, gil_waiting, gil_dropping;

    Model() {
        py::module_ m = py::module_::import("triage.model");
        analysis = m.attr("Analysis");
        source = m.attr("Source");
        core_info = m.attr("CoreInfo");
        thread = m.attr("Thread");
        frame = m.attr("Frame");
        exception = m.attr("ExceptionInFlight");
        python_frame = m.attr("FrameKind").attr("PYTHON");
        native_frame = m.attr("FrameKind").attr("NATIVE");
        core_source = m.attr("SourceKind").attr("CORE");
        process_source = m.attr("SourceKind").attr("PROCESS");
        gil_held = m.attr("GilState").attr("HELD");
        gil_waiting = m.attr("GilState").attr("WAITING");
        gil_dropping = m.attr("GilState").attr("DROPPING");
    }
};

// Text from a core is untrusted: the analyzer makes it UTF-8, and whatever slipped through still
// becomes U+FFFD here rather than a UnicodeDecodeError in the caller.
py::str str(const std::string& s) {
    PyObject* decoded =
        PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
    if (decoded == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(decoded);
}

py::object text(const std::string& s) {
    return s.empty() ? py::object(py::none()) : py::object(str(s));
}

py::object optional(const std::optional<std::string>& v) {
    return v ? py::object(str(*v)) : py::object(py::none());
}

template <typename T>
py::object optional(const std::optional<T>& v) {
    return v ? py::cast(*v) : py::object(py::none());
}

// A known value, or None for the analyzer's "unknown" sentinel.
py::object positive(int v) {
    return v > 0 ? py::object(py::int_(v)) : py::object(py::none());
}

py::object known(int v) {  // -1: unknown; 0 is a real column
    return v >= 0 ? py::object(py::int_(v)) : py::object(py::none());
}

py::tuple pairs(const std::vector<std::pair<std::string, std::string>>& items) {
    py::tuple out(items.size());
    for (size_t i = 0; i < items.size(); ++i)
        out[i] = py::make_tuple(str(items[i].first), str(items[i].second));
    return out;
}

template <typename T, typename Convert>
py::tuple tupleOf(const std::vector<T>& items, Convert convert) {
    py::tuple out(items.size());
    for (size_t i = 0; i < items.size(); ++i) out[i] = convert(items[i]);
    return out;
}

py::object pythonFrame(const Model& model, const PyFrameInfo& f, bool with_locals) {
    return model.frame(
        "kind"_a = model.python_frame, "function"_a = str(f.function), "file"_a = str(f.file),
        "line"_a = f.line >= 0 ? py::object(py::int_(f.line)) : py::none(),
        "qualname"_a = optional(f.qualname),
        "first_line"_a = f.first_line >= 0 ? py::object(py::int_(f.first_line)) : py::none(),
        "is_entry"_a = f.is_entry, "column"_a = known(f.column), "end_line"_a = known(f.end_line),
        "end_column"_a = known(f.end_column),
        "arguments"_a = with_locals ? py::object(pairs(f.arguments)) : py::none(),
        "locals"_a = with_locals ? py::object(pairs(f.locals)) : py::none());
}

py::object nativeFrame(const Model& model, const NativeFrameInfo& f) {
    return model.frame("kind"_a = model.native_frame,
                       "function"_a = str(f.function.empty() ? std::string("???") : f.function),
                       "file"_a = text(f.file), "line"_a = positive(f.line),
                       "library"_a = text(f.library), "address"_a = f.address,
                       "offset"_a = f.offset, "library_path"_a = text(f.library_path),
                       "inlined"_a = f.inlined, "column"_a = positive(f.column));
}

py::object gilState(const Model& model, int gil) {
    switch (gil) {
        case 1:
            return model.gil_held;
        case kGilWaiting:
            return model.gil_waiting;
        case kGilDropping:
            return model.gil_dropping;
        default:
            return py::none();
    }
}

py::object exceptionInFlight(const Model& model, const std::optional<PyExceptionInfo>& e) {
    if (!e) return py::none();
    auto frame = [&](const PyFrameInfo& f) { return pythonFrame(model, f, false); };
    return model.exception("type"_a = str(e->type), "repr"_a = text(e->repr),
                           "handled"_a = e->handled, "traceback"_a = tupleOf(e->traceback, frame));
}

py::object thread(const Model& model, const PyThreadInfo& t, bool with_locals) {
    auto python = [&](const PyFrameInfo& f) { return pythonFrame(model, f, with_locals); };
    auto native = [&](const NativeFrameInfo& f) { return nativeFrame(model, f); };
    return model.thread(
        "tid"_a = t.tid, "frames"_a = tupleOf(t.frames, python), "gil"_a = gilState(model, t.gil),
        "gc"_a = t.gc < 0 ? py::object(py::none()) : py::object(py::bool_(t.gc == 1)),
        "python"_a = t.python,
        "interpreter_id"_a = t.python ? py::object(py::int_(t.interpreter_id)) : py::none(),
        "truncated"_a = t.truncated, "warnings"_a = tupleOf(t.warnings, str),
        "name"_a = optional(t.os_name), "python_name"_a = optional(t.python_name),
        "exception"_a = exceptionInFlight(model, t.exception),
        "native_frames"_a = tupleOf(t.native_frames, native));
}

py::object coreInfo(const Model& model, const Analysis& a) {
    const ProcessInfo& p = a.process;
    const SignalInfo& s = a.signal;
    bool live = a.kind != "core";
    return model.core_info(
        "path"_a = str(live ? std::to_string(p.pid) : a.core_path), "pid"_a = p.pid,
        "ppid"_a = p.ppid, "pgrp"_a = p.pgrp, "sid"_a = p.sid, "uid"_a = p.uid, "gid"_a = p.gid,
        "state"_a = std::string(1, p.state >= 32 && p.state < 127 ? p.state : '?'),
        "zombie"_a = p.zombie, "nice"_a = p.nice, "fname"_a = str(p.fname),
        "psargs"_a = str(p.psargs), "signal"_a = s.signo, "si_code"_a = s.code,
        "si_errno"_a = s.err, "fault_address"_a = optional(s.fault_address),
        "sender_pid"_a = optional(s.sender_pid), "sender_uid"_a = optional(s.sender_uid),
        "execfn"_a = optional(a.execfn),
        "tids"_a = tupleOf(a.tids, [](int tid) { return py::int_(tid); }),
        "compression"_a = a.compression ? py::object(py::str(a.compression)) : py::none(),
        "full_argv"_a = live ? py::object(tupleOf(a.argv, str)) : py::none());
}

py::object pythonVersion(const Analysis& a) {
    if (!a.python_version) return py::none();
    const PythonVersion& v = *a.python_version;
    if (v.micro < 0) return py::make_tuple(v.major, v.minor);
    return py::make_tuple(v.major, v.minor, v.micro);
}

py::object toModel(const Analysis& a, bool with_locals) {
    Model model;
    bool live = a.kind != "core";
    auto strings = [](const std::vector<std::string>& items) { return tupleOf(items, str); };
    py::object core = coreInfo(model, a);
    py::object source =
        model.source("kind"_a = live ? model.process_source : model.core_source,
                     "path"_a = core.attr("path"), "executable"_a = text(a.executable),
                     "executable_from_core"_a = !live && a.executable_from_core);
    return model.analysis(
        "source"_a = source, "core"_a = core, "python_version"_a = pythonVersion(a),
        "python_error"_a = optional(a.python_error),
        "threads"_a = tupleOf(a.threads,
                              [&](const PyThreadInfo& t) { return thread(model, t, with_locals); }),
        "missing_libraries"_a = strings(a.missing_libraries), "warnings"_a = strings(a.warnings),
        "stopped_seconds"_a = live ? py::object(py::float_(a.stopped_seconds)) : py::none());
}

// What both entry points share: the options every analysis takes.
AnalysisOptions commonOptions(size_t max_frames, bool locals, bool native, bool native_all) {
    AnalysisOptions options;
    options.max_frames = max_frames;
    options.locals = locals;
    options.native = native;
    options.native_all = native_all;
    return options;
}

// Runs the analysis without the GIL (it never touches Python), then builds the model once.
// analyzeCore/analyzeProcess already turn any other C++ exception into the analyzer's own.
template <typename Analyze>
py::object released(Analyze analyze, bool with_locals) {
    Analysis result;
    {
        py::gil_scoped_release release;
        result = analyze();
    }
    return toModel(result, with_locals);
}

py::object analyzeCorePy(const std::string& core, const std::optional<std::string>& executable,
                         const std::optional<std::vector<std::string>>& lib_search_path,
                         const std::optional<std::string>& lib_search_root, size_t max_frames,
                         bool locals, bool native, bool native_all) {
    AnalysisOptions options = commonOptions(max_frames, locals, native, native_all);
    options.executable = executable.value_or("");
    options.lib_search_path = lib_search_path.value_or(std::vector<std::string>{});
    options.lib_search_root = lib_search_root.value_or("");
    return released([&] { return analyzeCore(core, options); }, locals);
}

py::object analyzeProcessPy(int pid, bool block, size_t max_frames, bool locals, bool native,
                            bool native_all) {
    AnalysisOptions options = commonOptions(max_frames, locals, native, native_all);
    options.block = block;
    return released([&] { return analyzeProcess(pid, options); }, locals);
}

// The file's SHA-256, hashed without the GIL: the pipeline hashes in a thread of its own.
std::string sha256OfFilePy(int fd) {
    int error_number = 0;
    std::string digest;
    {
        py::gil_scoped_release release;
        digest = sha256OfFile(fd, &error_number);
    }
    if (error_number != 0) {
        errno = error_number;
        PyErr_SetFromErrno(PyExc_OSError);
        throw py::error_already_set();
    }
    return digest;
}

py::tuple names(const std::vector<std::string>& items) {
    return tupleOf(items, str);
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "coretriage's analyzer: reads cores and processes, returns triage.model objects";
    py::register_exception<CoreFileError>(m, "CoreFileError");
    py::register_exception<AnalysisError>(m, "AnalysisError");
    py::register_exception<ProcessError>(m, "ProcessError");
    // The interpreter functions the analyzer recognizes on a stack: one list, used by Python too.
    m.attr("TAKE_GIL_FUNCTIONS") = names(cpython::kTakeGilFunctions);
    m.attr("DROP_GIL_FUNCTIONS") = names(cpython::kDropGilFunctions);
    std::vector<std::string> collector = cpython::kCollectorFunctions;
    collector.insert(collector.end(), cpython::kCollectorEntryPoints.begin(),
                     cpython::kCollectorEntryPoints.end());
    m.attr("COLLECTOR_FUNCTIONS") = names(collector);
    m.def("analyze_core", &analyzeCorePy, py::arg("core"), py::arg("executable") = py::none(),
          py::arg("lib_search_path") = py::none(), py::arg("lib_search_root") = py::none(),
          py::arg("max_frames") = 100000, py::arg("locals") = false, py::arg("native") = false,
          py::arg("native_all") = false);
    m.def("sha256_of_file", &sha256OfFilePy, py::arg("fd"));
    m.def("analyze_process", &analyzeProcessPy, py::arg("pid"), py::arg("block") = true,
          py::arg("max_frames") = 100000, py::arg("locals") = false, py::arg("native") = false,
          py::arg("native_all") = false);
}
