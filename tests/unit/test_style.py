"""The code is formatted and linted as the project's habits say (ruff, clang-format)."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (it comes with the test extra)")
    return path


def test_python_is_ruff_clean() -> None:
    ruff = tool("ruff")
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_cpp_is_clang_format_clean() -> None:
    clang_format = tool("clang-format")
    sources = sorted(
        glob.glob(str(ROOT / "native" / "**" / "*.cpp"), recursive=True)
        + glob.glob(str(ROOT / "native" / "**" / "*.h"), recursive=True)
    )
    result = subprocess.run(
        [clang_format, "--dry-run", "-Werror", *sources], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_package_is_type_checked() -> None:
    mypy = tool("mypy")
    result = subprocess.run([mypy, "triage"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_extension_stub_is_true() -> None:
    """The .pyi of the extension against the built module (mypy's stubtest)."""
    tool("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "triage._native"],
        cwd="/",  # the installed package, which has the extension
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
