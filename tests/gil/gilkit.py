"""Helpers of the GIL suite: its programs, and the C extension built per interpreter."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from nativekit.interpreters import Interpreter

PROGRAMS = Path(__file__).resolve().parent / "programs"
EXTENSION_SOURCE = PROGRAMS / "nogil_spin.c"


def build_extension(interpreter: Interpreter, out_dir: Path) -> Path:
    """``nogil_spin`` for INTERPRETER (gcc -O2 -g) in OUT_DIR; returns OUT_DIR."""
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.skip("gcc is not installed")
    if not interpreter.has_headers:
        pytest.skip(f"no Python.h for {interpreter.id}")
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        compiler, "-O2", "-g", "-shared", "-fPIC", f"-I{interpreter.include}",
        "-o", str(out_dir / "nogil_spin.so"), str(EXTENSION_SOURCE),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return out_dir
