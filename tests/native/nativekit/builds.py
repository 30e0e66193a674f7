"""Building the test extensions: the C++ module per interpreter, the Rust cdylib once."""

from __future__ import annotations

import shutil
import subprocess
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .interpreters import Interpreter

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
CXX_SOURCE = PROGRAMS / "cxxcrash.cpp"
RUST_SOURCE = PROGRAMS / "rustcrash.rs"
BUILD_TIMEOUT = 300.0


class BuildError(Exception):
    """A test extension did not build; the message has the compiler's output."""


def _compile(argv: list[str]) -> None:
    result = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if result.returncode != 0:
        raise BuildError(f"$ {' '.join(argv)}\n{(result.stdout + result.stderr)[-4000:]}")


def build_cxx(interpreter: Interpreter, out_dir: Path) -> Path:
    """``cxxcrash`` for INTERPRETER (g++ -O2 -g), in OUT_DIR; returns the module directory."""
    compiler = shutil.which("g++")
    if compiler is None:
        raise BuildError("g++ is not installed")
    if not interpreter.has_headers:
        raise BuildError(f"no Python.h in {interpreter.include}")
    out_dir.mkdir(parents=True, exist_ok=True)
    _compile(
        [
            compiler, "-O2", "-g", "-shared", "-fPIC", "-Wno-register",
            f"-I{interpreter.include}", "-o", str(out_dir / "cxxcrash.so"), str(CXX_SOURCE),
        ]
    )  # fmt: skip
    return out_dir


def build_rust(out_dir: Path) -> Path:
    """``librustcrash.so`` with v0 symbol mangling and full debug info."""
    rustc = shutil.which("rustc")
    if rustc is None:
        raise BuildError("rustc is not installed")
    out_dir.mkdir(parents=True, exist_ok=True)
    library = out_dir / "librustcrash.so"
    _compile(
        [
            rustc, "--edition=2021", "--crate-type=cdylib", "--crate-name=rustcrash",
            "-C", "symbol-mangling-version=v0", "-C", "debuginfo=2", "-C", "opt-level=2",
            "-o", str(library), str(RUST_SOURCE),
        ]
    )  # fmt: skip
    return library


class CxxBuilds:
    """The C++ module of every interpreter, built on demand (two at a time) and cached."""

    def __init__(self, root: Path, workers: int = 2) -> None:
        self._root = root
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxx-build")
        self._futures: dict[str, Future[Path]] = {}
        self._lock = threading.Lock()

    def prefetch(self, interpreters: list[Interpreter]) -> None:
        for interpreter in interpreters:
            self._future(interpreter)

    def get(self, interpreter: Interpreter) -> Path:
        return self._future(interpreter).result()

    def _future(self, interpreter: Interpreter) -> Future[Path]:
        with self._lock:
            if interpreter.id not in self._futures:
                self._futures[interpreter.id] = self._pool.submit(
                    build_cxx, interpreter, self._root / interpreter.id
                )
            return self._futures[interpreter.id]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
