"""Discovery of the CPython interpreters the scenarios run on (done once, at collection time)."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SELECT_ENV = "TRIAGE_TEST_PYTHONS"  # comma-separated ids, or "current" for sys.executable only
SYSTEM_PYTHON = "/usr/bin/python3"
_PROBE = (
    "import platform, sys; sys.stdout.write('%s %d.%d.%d\\n' % "
    "((platform.python_implementation(),) + tuple(sys.version_info[:3])))"
)


@dataclass(frozen=True)
class Interpreter:
    id: str
    path: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def is_current(self) -> bool:
        return os.path.realpath(self.path) == os.path.realpath(sys.executable)

    @functools.cached_property
    def include(self) -> str:
        """The directory of Python.h (empty when the interpreter cannot say)."""
        code = "import sysconfig, sys; sys.stdout.write(sysconfig.get_paths()['include'])"
        try:
            out = subprocess.run([self.path, "-E", "-c", code], capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.decode(errors="replace").strip() if out.returncode == 0 else ""

    @property
    def has_headers(self) -> bool:
        return bool(self.include) and os.path.isfile(os.path.join(self.include, "Python.h"))


def pyenv_root() -> Path:
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=20)
            if out.returncode == 0 and out.stdout.strip():
                return Path(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _candidates() -> list[tuple[str, str]]:
    """(path, id prefix) in order of preference; a later duplicate of a realpath is dropped."""
    pattern = str(pyenv_root() / "versions" / "*" / "bin" / "python")
    found = [(path, "py") for path in sorted(glob.glob(pattern))]
    found.append((SYSTEM_PYTHON, "system-"))
    found.append((sys.executable, "sys-"))
    return found


def _probe(path: str) -> tuple[int, int, int] | None:
    """The version of a CPython at PATH, None when it is not a working CPython."""
    try:
        out = subprocess.run(
            [path, "-E", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.stdout.split()
    if out.returncode != 0 or len(words) != 2 or words[0] != "CPython":
        return None
    major, minor, micro = (int(part) for part in words[1].split("."))
    return major, minor, micro


@functools.cache
def discover() -> tuple[Interpreter, ...]:
    """Every usable interpreter, deduplicated by realpath, sorted by version."""
    seen: set[str] = set()
    found: dict[str, Interpreter] = {}
    for path, prefix in _candidates():
        real = os.path.realpath(path)
        if real in seen or not os.access(real, os.X_OK):
            continue
        seen.add(real)
        version = _probe(path)
        if version is None:
            continue
        ident = prefix + ".".join(map(str, version))
        while ident in found:
            ident += "+"
        found[ident] = Interpreter(ident, path, version)
    return tuple(sorted(found.values(), key=lambda i: (i.version, i.id)))


def selected() -> tuple[Interpreter, ...]:
    """The interpreters this run uses, narrowed by $TRIAGE_TEST_PYTHONS when it is set."""
    wanted = os.environ.get(SELECT_ENV, "").strip()
    interpreters = discover()
    if not wanted:
        return interpreters
    names = {name.strip() for name in wanted.split(",")}
    return tuple(i for i in interpreters if i.id in names or ("current" in names and i.is_current))


def current() -> Interpreter | None:
    """The discovered interpreter that runs the tests (sys.executable)."""
    return next((i for i in discover() if i.is_current), None)


def pyenv_prefix(interpreter: Interpreter) -> Path | None:
    """The pyenv prefix of INTERPRETER when it is a pyenv build with a shared libpython."""
    real = Path(os.path.realpath(interpreter.path))
    prefix = real.parent.parent
    if prefix.parent != (pyenv_root() / "versions").resolve():
        return None
    return prefix
