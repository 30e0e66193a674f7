// The only file that knows pybind11: converts the analyzer's plain structs into dicts, once.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "analysis.h"
#include "errors.h"

namespace py = pybind11;
using namespace triage;

namespace {

py::object optionalInt(const std::optional<uint64_t>& v) {
    return v ? py::object(py::int_(*v)) : py::object(py::none());
}

// Process fields shared by cores (from their notes) and live processes (from /proc).
py::dict processFields(const Analysis& a) {
    py::dict d;
    const ProcessInfo& p = a.process;
    d["pid"] = p.pid;
    d["ppid"] = p.ppid;
    d["pgrp"] = p.pgrp;
    d["sid"] = p.sid;
    d["uid"] = p.uid;
    d["gid"] = p.gid;
    d["state"] = std::string(1, p.state >= 32 && p.state < 127 ? p.state : '?');
    d["zombie"] = p.zombie;
    d["nice"] = p.nice;
    d["fname"] = p.fname;
    d["psargs"] = p.psargs;
    d["tids"] = a.tids;
    return d;
}

py::dict coreDict(const Analysis& a) {
    py::dict d = processFields(a);
    d["path"] = a.core_path;
    d["signal"] = a.signal.signo;
    d["si_code"] = a.signal.code;
    d["si_errno"] = a.signal.err;
    d["fault_address"] = optionalInt(a.signal.fault_address);
    d["sender_pid"] = a.signal.sender_pid ? py::object(py::int_(*a.signal.sender_pid)) : py::none();
    d["sender_uid"] = a.signal.sender_uid ? py::object(py::int_(*a.signal.sender_uid)) : py::none();
    d["execfn"] = a.execfn ? py::object(py::str(*a.execfn)) : py::none();
    d["compression"] = a.compression ? py::object(py::str(a.compression)) : py::none();
    return d;
}

py::dict frameDict(const PyFrameInfo& f) {
    py::dict d;
    d["file"] = f.file;
    d["function"] = f.function;
    d["qualname"] = f.qualname ? py::object(py::str(*f.qualname)) : py::none();
    d["line"] = f.line;
    d["first_line"] = f.first_line;
    d["is_entry"] = f.is_entry;
    d["frame_address"] = f.frame_address;
    d["code_address"] = f.code_address;
    d["arguments"] = f.arguments;
    d["locals"] = f.locals;
    return d;
}

py::dict nativeFrameDict(const NativeFrameInfo& f) {
    py::dict d;
    d["address"] = f.address;
    d["function"] = f.function;
    d["file"] = f.file.empty() ? py::object(py::none()) : py::object(py::str(f.file));
    d["line"] = f.line;
    d["column"] = f.column;
    d["library"] = f.library.empty() ? py::object(py::none()) : py::object(py::str(f.library));
    d["inlined"] = f.inlined;
    d["offset"] = f.offset;
    d["library_path"] =
        f.library_path.empty() ? py::object(py::none()) : py::object(py::str(f.library_path));
    return d;
}

py::dict threadDict(const PyThreadInfo& t) {
    py::dict d;
    d["tid"] = t.tid;
    d["tstate"] = t.tstate;
    d["interpreter_id"] = t.interpreter_id;
    d["gil"] = t.gil;
    d["gc"] = t.gc;
    py::list frames;
    for (const auto& f : t.frames) frames.append(frameDict(f));
    d["frames"] = frames;
    d["truncated"] = t.truncated;
    d["warnings"] = t.warnings;
    d["python"] = t.python;
    py::list native;
    for (const auto& f : t.native_frames) native.append(nativeFrameDict(f));
    d["native_frames"] = native;
    return d;
}

py::dict analysisDict(const Analysis& a) {
    py::dict d;
    if (a.kind == "core") {
        d["core"] = coreDict(a);
    } else {
        py::dict p = processFields(a);
        p["argv"] = a.argv;
        p["stopped_seconds"] = a.stopped_seconds;
        d["process"] = p;
    }
    d["executable"] = a.executable;
    d["executable_from_core"] = a.executable_from_core;
    if (a.python_version) {
        const auto& v = *a.python_version;
        d["python_version"] = py::make_tuple(v.major, v.minor, v.micro);
    } else {
        d["python_version"] = py::none();
    }
    d["python_error"] = a.python_error ? py::object(py::str(*a.python_error)) : py::none();
    py::list threads;
    for (const auto& t : a.threads) threads.append(threadDict(t));
    d["threads"] = threads;
    d["missing_libraries"] = a.missing_libraries;
    d["warnings"] = a.warnings;
    return d;
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

// Runs the analysis without the GIL (it never touches Python), then converts once.
template <typename Analyze>
py::dict released(Analyze analyze) {
    Analysis result;
    {
        py::gil_scoped_release release;
        result = analyze();
    }
    return analysisDict(result);
}

py::dict analyzeCorePy(const std::string& core, const std::optional<std::string>& executable,
                       const std::optional<std::vector<std::string>>& lib_search_path,
                       const std::optional<std::string>& lib_search_root, size_t max_frames,
                       bool locals, bool native, bool native_all) {
    AnalysisOptions options = commonOptions(max_frames, locals, native, native_all);
    options.executable = executable.value_or("");
    options.lib_search_path = lib_search_path.value_or(std::vector<std::string>{});
    options.lib_search_root = lib_search_root.value_or("");
    return released([&] { return analyzeCore(core, options); });
}

py::dict analyzeProcessPy(int pid, bool block, size_t max_frames, bool locals, bool native,
                          bool native_all) {
    AnalysisOptions options = commonOptions(max_frames, locals, native, native_all);
    options.block = block;
    return released([&] { return analyzeProcess(pid, options); });
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "coretriage's analyzer: reads cores and processes, returns plain data";
    py::register_exception<CoreFileError>(m, "CoreFileError");
    py::register_exception<AnalysisError>(m, "AnalysisError");
    py::register_exception<ProcessError>(m, "ProcessError");
    m.def("analyze_core", &analyzeCorePy, py::arg("core"), py::arg("executable") = py::none(),
          py::arg("lib_search_path") = py::none(), py::arg("lib_search_root") = py::none(),
          py::arg("max_frames") = 100000, py::arg("locals") = false, py::arg("native") = false,
          py::arg("native_all") = false);
    m.def("analyze_process", &analyzeProcessPy, py::arg("pid"), py::arg("block") = true,
          py::arg("max_frames") = 100000, py::arg("locals") = false, py::arg("native") = false,
          py::arg("native_all") = false);
}
