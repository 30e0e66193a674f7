"""Real cores and live processes for the collector tests, and running it as the kernel does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from triage.samples.cores import make_core

# The kernel's environment for a core_pattern helper: nothing at all.
KERNEL_ENV: dict[str, str] = {}
TRIAGE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "triage")
ABORT = "import os\n\ndef handle():\n    os.abort()\n\nhandle()\n"


def triage_command() -> list[str]:
    if os.access(TRIAGE_SCRIPT, os.X_OK):
        return [TRIAGE_SCRIPT]
    return [sys.executable, "-m", "triage"]


def _no_stdout_stderr() -> None:
    # The kernel starts the helper with the pipe as stdin and nothing as stdout and stderr.
    os.close(1)
    os.close(2)


def run_collector(
    spool: Path, crash: list[str], stdin: object, *flags: str, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """`triage collect SPOOL PID TID SIGNAL TIME HOST EXE` exactly as the kernel runs it."""
    return subprocess.run(
        [*triage_command(), "collect", str(spool), *crash, *flags],
        stdin=stdin,  # type: ignore[arg-type]
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=KERNEL_ENV,
        cwd="/",
        preexec_fn=_no_stdout_stderr,
        timeout=timeout,
    )


def kernel_arguments(pid: int, signal: int, executable: str, host: str = "web-1") -> list[str]:
    return [
        str(pid),
        str(pid),
        str(signal),
        str(int(time.time())),
        host,
        executable.replace("/", "!"),
    ]


@pytest.fixture(scope="session")
def core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real core of the current interpreter (aborted in `handle`)."""
    workdir = tmp_path_factory.mktemp("collect-core")
    script = workdir / "app.py"
    script.write_text(ABORT)
    made = make_core([sys.executable, "-E", str(script)], str(workdir))
    final = workdir / "abort.core"
    os.replace(made, final)
    return final


@pytest.fixture
def live() -> Iterator[subprocess.Popen[bytes]]:
    """A running Python process, standing in for the dying one (its /proc entry is read)."""
    env = {
        "SERVICE_NAME": "shop",
        "SERVICE_VERSION": "4.2",
        "SECRET_TOKEN": "hunter2-do-not-collect",
        "PYTHONPATH": "/srv/app",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        env=env,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()
        assert process.stdin is not None
        process.stdin.close()


def leftovers(spool: Path) -> list[str]:
    """Temporaries the collector might have left (there must be none)."""
    return sorted(p.name for p in spool.iterdir() if p.name.startswith(".") and p.is_file())
