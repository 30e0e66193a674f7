"""A Rust cdylib (v0 symbol mangling, full debug info) loaded with ctypes calls a Python ctypes
callback, which calls back into the library, which aborts or writes through NULL. The kernel
core must show v0-demangled names (``rustcrash::engine::gears::grind``, the generic
``<rustcrash::engine::Crank<u32>>::turn``) nested with the Python frames. Skipped without rustc.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nativekit.builds import PROGRAMS, BuildError, build_rust
from nativekit.interpreters import Interpreter
from nativekit.labs import CRASH_MODES
from nativekit.processes import Reaper, crash_core
from nativekit.stacks import crashed_thread, describe, from_library, index_of_python
from nativekit.tools import Tools

LIBRARY = "librustcrash.so"
GRIND = "rustcrash::engine::gears::grind"
TURN = "<rustcrash::engine::Crank<u32>>::turn"
DETONATE = "rustcrash::engine::gears::detonate"


@pytest.fixture(scope="session")
def rust_library(lab: Path) -> Path:
    if shutil.which("rustc") is None:
        pytest.skip("rustc is not installed")
    try:
        return build_rust(lab / "rust")
    except BuildError as error:
        pytest.fail(f"the Rust library did not build:\n{error}")


@pytest.fixture(scope="session")
def rust_cores(
    lab: Path, rust_library: Path, current_interpreter: Interpreter, reaper: Reaper
) -> dict[str, Path]:
    cores = {}
    for mode, (number, fatal) in CRASH_MODES.items():
        argv = [
            current_interpreter.path, "-E", "-S",
            str(PROGRAMS / "rust_callback.py"), str(rust_library), str(number),
        ]  # fmt: skip
        cores[mode] = crash_core(reaper, argv, lab / "rust" / mode, fatal)
    return cores


@pytest.fixture(params=sorted(CRASH_MODES))
def rust_doc(request: pytest.FixtureRequest, rust_cores: dict[str, Path], tools: Tools) -> Any:
    return tools.triage_core_json(rust_cores[request.param], "--native")


def test_library_is_v0_mangled(rust_library: Path) -> None:
    """The test means something only if the symbols really are v0 (``_R...``)."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm is not installed")
    symbols = subprocess.run([nm, str(rust_library)], capture_output=True, text=True).stdout
    ours = [line.split()[-1] for line in symbols.splitlines() if "5gears5grind" in line]
    assert ours and all(name.startswith("_R") for name in ours), ours


def test_v0_names_demangled_and_nested(rust_doc: dict[str, Any]) -> None:
    frames = crashed_thread(rust_doc)["frames"]
    assert [f["function"] for f in frames if f["kind"] == "python"] == [
        "<module>",
        "main",
        "python_callback",
    ], describe(frames)
    main = index_of_python(frames, "main")
    callback = index_of_python(frames, "python_callback")
    outer = [f["function"] for f in from_library(frames[main:callback], LIBRARY)]
    inner = [f["function"] for f in from_library(frames[callback:], LIBRARY)]
    assert outer == [GRIND, TURN], describe(frames)
    assert DETONATE in inner, describe(frames)
    for frame in from_library(frames, LIBRARY):
        assert not frame["function"].startswith(("_R", "_ZN")), frame
        assert frame["file"] and frame["file"].endswith(".rs"), frame
    grind = next(f for f in frames if f["function"] == GRIND)
    assert grind["file"].endswith("rustcrash.rs") and grind["line"], grind


def test_crash_point(rust_doc: dict[str, Any]) -> None:
    frames = crashed_thread(rust_doc)["frames"]
    innermost = [f["function"] for f in frames[index_of_python(frames, "python_callback") :]]
    signal_name = rust_doc["process"]["signal"]["name"]
    if signal_name == "SIGABRT":
        assert "std::process::abort" in innermost and "abort" in innermost, describe(frames)
    else:
        assert signal_name == "SIGSEGV"
        assert innermost[-1] == DETONATE, describe(frames)
