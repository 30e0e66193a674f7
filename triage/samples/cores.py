"""Real core files of sample programs: kernel cores when possible, gcore otherwise.

The kernel writes a core into the process's working directory when ``core_pattern`` is a plain
name (``core``, Debian's default without systemd-coredump) and RLIMIT_CORE allows it. When
cores go elsewhere (a pipe to systemd-coredump or apport, an absolute directory) the program
is run in "park" mode instead and ``gcore`` takes the core of the live process.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CORE_PATTERN = "/proc/sys/kernel/core_pattern"
PARK_VARIABLE = "TRIAGE_DEMO_GCORE"
TIMEOUT = 60.0


@dataclass(frozen=True)
class Interpreter:
    name: str  # "3.12.1", "system 3.11.2"
    path: str


def interpreters() -> list[Interpreter]:
    """The pyenv versions and /usr/bin/python3, each real executable once."""
    found: list[Interpreter] = []
    seen: set[str] = set()
    candidates = [(f"pyenv {v}", p) for v, p in _pyenv_pythons()]
    candidates.append(("system", "/usr/bin/python3"))
    for label, path in candidates:
        real = os.path.realpath(path)
        if real in seen or not os.access(real, os.X_OK):
            continue
        seen.add(real)
        found.append(Interpreter(f"{label}".strip(), path))
    return found


def _pyenv_pythons() -> list[tuple[str, str]]:
    pyenv = shutil.which("pyenv") or os.path.expanduser("~/.pyenv/bin/pyenv")
    if not os.access(pyenv, os.X_OK):
        return []
    try:
        root = subprocess.run(
            [pyenv, "root"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        versions = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []
    pythons = []
    for version in versions:
        for name in ("python3", "python2", "python"):
            path = os.path.join(root, "versions", version, "bin", name)
            if os.access(path, os.X_OK):
                pythons.append((version, path))
                break
    return pythons


def kernel_writes_cores_here() -> bool:
    """core_pattern names a file relative to the crashing process's working directory."""
    try:
        pattern = Path(CORE_PATTERN).read_text().strip()
    except OSError:
        return False
    return bool(pattern) and not pattern.startswith("|") and "/" not in pattern


def make_core(argv: Sequence[str], workdir: str, env: dict[str, str] | None = None) -> str:
    """Run ARGV in WORKDIR until it crashes; returns the path of its core (in WORKDIR)."""
    os.makedirs(workdir, exist_ok=True)
    if kernel_writes_cores_here():
        core = _kernel_core(argv, workdir, env)
        if core is not None:
            return core
    return _gcore(argv, workdir, env)


def _allow_cores() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _kernel_core(argv: Sequence[str], workdir: str, env: dict[str, str] | None) -> str | None:
    """The kernel's core of ARGV: ``core.PID`` or ``core`` (core_uses_pid), None if none."""
    plain = os.path.join(workdir, "core")
    if os.path.exists(plain):
        raise RuntimeError(f"{plain} exists: move it away first")
    process = subprocess.Popen(
        list(argv),
        cwd=workdir,
        env=env,
        preexec_fn=_allow_cores,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    code = process.wait(timeout=TIMEOUT)
    if code >= 0:
        raise RuntimeError(f"{list(argv)} did not crash (exit status {code})")
    for candidate in (f"{plain}.{process.pid}", plain):
        if os.path.exists(candidate):
            return candidate
    return None


def _gcore(argv: Sequence[str], workdir: str, env: dict[str, str] | None) -> str:
    gcore = shutil.which("gcore")
    if gcore is None:
        raise RuntimeError("cores go elsewhere (core_pattern) and gcore is not installed")
    park_env = dict(env if env is not None else os.environ)
    park_env[PARK_VARIABLE] = "1"
    process = subprocess.Popen(
        list(argv),
        cwd=workdir,
        env=park_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"{argv} did not reach its crash point")
        prefix = os.path.join(workdir, "core")
        subprocess.run(
            [gcore, "-o", prefix, str(process.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=TIMEOUT,
            check=True,
        )
        return f"{prefix}.{process.pid}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
