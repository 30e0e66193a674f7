"""The collector installed as the kernel's core_pattern, for real crashes of two interpreters.

This changes a machine-wide setting: the old values are restored whatever happens (finally,
and atexit should the test process be interrupted), and the window is kept to the crashes.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from coretest.interpreters import selected

from triage.collect.install import CORE_PATTERN, CORE_PIPE_LIMIT, PATTERN_LIMIT

from .conftest import triage_command

CRASH = "import os\n\n\ndef handle():\n    os.abort()\n\n\nhandle()\n"
CRASHES_PER_INTERPRETER = 2


def _read(path: str) -> str:
    with open(path) as stream:
        return stream.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as stream:
        stream.write(value)


@pytest.fixture
def kernel_settings() -> Iterator[tuple[str, str]]:
    saved = (_read(CORE_PATTERN), _read(CORE_PIPE_LIMIT))

    def restore() -> None:
        for path, value in zip((CORE_PATTERN, CORE_PIPE_LIMIT), saved):
            try:
                if _read(path) != value:
                    _write(path, value)
            except OSError:
                pass

    atexit.register(restore)
    try:
        yield saved
    finally:
        restore()
        atexit.unregister(restore)


def _allow_cores() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_install_prints_a_pattern_the_kernel_accepts(tmp_path: Path) -> None:
    spool = Path(tempfile.mkdtemp(prefix="ct", dir="/tmp"))
    try:
        result = subprocess.run(
            [*triage_command(), "collect", "--install", str(spool)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        lines = dict(line.split(" = ", 1) for line in result.stdout.splitlines())
        pattern = lines["kernel.core_pattern"]
        assert pattern.startswith("|/") and len(pattern.encode()) <= PATTERN_LIMIT
        assert pattern.endswith(f" collect {spool} %P %i %s %t %h %E")
        assert int(lines["kernel.core_pipe_limit"]) > 0
        long = tmp_path / ("x" * 120)
        long.mkdir()
        result = subprocess.run(
            [*triage_command(), "collect", "--install", str(long)], capture_output=True, text=True
        )
        assert result.returncode == 3 and result.stderr.count("\n") == 1
        assert "the kernel takes 127" in result.stderr
    finally:
        spool.rmdir()


def test_real_crashes_of_two_interpreters_go_through_the_collector(
    kernel_settings: tuple[str, str], tmp_path: Path
) -> None:
    interpreters = list(selected())[:2]
    if not interpreters:
        pytest.skip("no interpreter selected")
    spool = Path(tempfile.mkdtemp(prefix="ct", dir="/tmp"))  # short: the pattern has 127 bytes
    script = tmp_path / "app.py"
    script.write_text(CRASH)
    applied = subprocess.run(
        [*triage_command(), "collect", "--install", str(spool), "--apply"],
        capture_output=True,
        text=True,
    )
    if applied.returncode != 0:
        pytest.skip(f"core_pattern cannot be written here: {applied.stderr.strip()}")
    crashed: dict[int, str] = {}
    try:
        assert _read(CORE_PATTERN).startswith("|") and " collect " in _read(CORE_PATTERN)
        for interpreter in interpreters:
            for _ in range(CRASHES_PER_INTERPRETER):
                process = subprocess.Popen(
                    [interpreter.path, str(script)],
                    cwd=tmp_path,
                    preexec_fn=_allow_cores,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                assert process.wait(timeout=60) < 0
                crashed[process.pid] = os.path.realpath(interpreter.path)
    finally:
        restored = subprocess.run(
            [*triage_command(), "collect", "--uninstall", str(spool)],
            capture_output=True,
            text=True,
        )
    assert restored.returncode == 0, restored.stderr
    assert (_read(CORE_PATTERN), _read(CORE_PIPE_LIMIT)) == kernel_settings

    # The kernel waits for the handler before it reaps the process: all is there already.
    deadline = time.monotonic() + 30
    sidecars: dict[int, dict] = {}
    while len(sidecars) < len(crashed) and time.monotonic() < deadline:
        for path in spool.glob("*.json"):
            data = json.loads(path.read_text())
            if data.get("pid") in crashed:  # other users' crashes may have come in too
                sidecars[data["pid"]] = data
        time.sleep(0.1)
    assert sorted(sidecars) == sorted(crashed)
    cores = []
    for pid, sidecar in sidecars.items():
        assert sidecar["signal"] == 6 and sidecar["signal_name"] == "SIGABRT"
        assert sidecar["host"] == socket.gethostname()
        assert sidecar["executable"] == crashed[pid]
        assert sidecar["cmdline"][-1] == str(script)
        assert sidecar["python_version"]
        core = spool / sidecar["core"]
        assert core.read_bytes()[:4] == b"\x7fELF"
        cores.append(str(core))
    # None of these crashes left a partial file (the kernel pipes to every crash on the machine
    # while the pattern is installed: another process's core may still be on its way in).
    partial = [p.name for p in spool.iterdir() if p.name.startswith(".") and p.is_file()]
    assert not [name for name in partial if any(f".{pid}." in name for pid in crashed)]

    db = tmp_path / "t.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "triage",
            "ingest",
            "--no-report",
            "--db",
            f"sqlite:///{db}",
            *cores,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT status, host, group_id, context FROM crashes").fetchall()
    finally:
        connection.close()
    assert len(rows) == len(crashed)
    assert all(status == "done" and host == socket.gethostname() for status, host, _, _ in rows)
    groups: dict[str, set[int]] = {}
    for _, _, group, context in rows:
        groups.setdefault(crashed[json.loads(context)["pid"]], set()).add(group)
    assert all(len(ids) == 1 for ids in groups.values()), groups  # the same bug, one group
    subprocess.run(["rm", "-rf", str(spool)], check=False)
