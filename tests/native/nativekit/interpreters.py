"""The CPython interpreters installed here: pyenv versions, the system python3, sys.executable."""

from __future__ import annotations

import functools
import glob
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT") or "/root/.pyenv") / "versions"
SYSTEM_PYTHON = "/usr/bin/python3"
# Comma-separated ids (py3.12.1, system-3.11.2...) or "current": narrows the interpreters, as
# in tests/integration.
SELECT_ENV = "TRIAGE_TEST_PYTHONS"
_PROBE = (
    "import platform, sys, sysconfig; sys.stdout.write('%s %d.%d.%d %s\\n' % "
    "((platform.python_implementation(),) + tuple(sys.version_info[:3]) + "
    "(sysconfig.get_paths()['include'],)))"
)


@dataclass(frozen=True)
class Interpreter:
    id: str
    path: str
    version: tuple[int, int, int]
    include: str  # the directory of Python.h

    @property
    def is_current(self) -> bool:
        return os.path.realpath(self.path) == os.path.realpath(sys.executable)

    @property
    def has_headers(self) -> bool:
        return os.path.isfile(os.path.join(self.include, "Python.h"))


def _candidates() -> list[tuple[str, str]]:
    """(path, id prefix), preferred first; a later path with the same realpath is dropped."""
    found = [(path, "py") for path in sorted(glob.glob(str(PYENV_VERSIONS / "*/bin/python")))]
    found.append((SYSTEM_PYTHON, "system-"))
    found.append((sys.executable, "sys-"))
    return found


def _probe(path: str) -> tuple[tuple[int, int, int], str] | None:
    try:
        out = subprocess.run(
            [path, "-E", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.stdout.split(None, 2)
    if out.returncode != 0 or len(words) != 3 or words[0] != "CPython":
        return None
    major, minor, micro = (int(part) for part in words[1].split("."))
    return (major, minor, micro), words[2].strip()


@functools.cache
def discover() -> tuple[Interpreter, ...]:
    """Every working CPython, deduplicated by realpath, sorted by version."""
    seen: set[str] = set()
    found: dict[str, Interpreter] = {}
    for path, prefix in _candidates():
        real = os.path.realpath(path)
        if real in seen or not os.access(real, os.X_OK):
            continue
        seen.add(real)
        probed = _probe(path)
        if probed is None:
            continue
        version, include = probed
        ident = prefix + ".".join(map(str, version))
        while ident in found:
            ident += "+"
        found[ident] = Interpreter(ident, path, version, include)
    return tuple(sorted(found.values(), key=lambda i: (i.version, i.id)))


def selected() -> tuple[Interpreter, ...]:
    """The interpreters of this run: all of them unless $TRIAGE_TEST_PYTHONS narrows them."""
    wanted = os.environ.get(SELECT_ENV, "").strip()
    if not wanted:
        return discover()
    names = {name.strip() for name in wanted.split(",")}
    return tuple(i for i in discover() if i.id in names or ("current" in names and i.is_current))


def current() -> Interpreter:
    """The interpreter running the tests (always discovered: it runs them)."""
    return next(i for i in discover() if i.is_current)


def pyenv_prefix(interpreter: Interpreter) -> Path | None:
    """The pyenv prefix of INTERPRETER when it is a pyenv build with a shared libpython."""
    real = Path(os.path.realpath(interpreter.path))
    prefix = real.parent.parent
    if prefix.parent != PYENV_VERSIONS.resolve():
        return None
    return prefix
