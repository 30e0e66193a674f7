"""One watched spool as a fleet sees it: one bug crashed under several Python versions, a hang
caught twice, a truncated core, and the watcher killed with -9 in the middle of it all.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from coretest import interpreters

from triage.samples.cores import make_core

from .conftest import PYTHON, Watcher, rows, settled, wait_until

BUG = """\
import os


def parse_header(packet):
    os.abort()


def handle(packet):
    parse_header(packet)


handle({"length": 16})
"""
HUNG = """\
import sys, threading


def spin():
    while True:
        sum(i * i for i in range(1000))


def wait_for_reply(event):
    event.wait()


threading.Thread(target=spin).start()
sys.stdout.write("ready\\n")
sys.stdout.flush()
wait_for_reply(threading.Event())
"""


def pythons() -> list[str]:
    """The current interpreter and the oldest and newest others installed here."""
    found = [i for i in interpreters.discover() if not i.is_current]
    chosen = {PYTHON}
    if found:
        chosen |= {found[0].path, found[-1].path}
    return sorted(chosen)


def snapshots(workdir: Path, count: int) -> list[Path]:
    """gcore snapshots of one hung program, taken at different moments."""
    if shutil.which("gcore") is None:
        pytest.skip("gcore (gdb) is not installed")
    (workdir / "rpc.py").write_text(HUNG)
    process = subprocess.Popen([PYTHON, str(workdir / "rpc.py")], stdout=subprocess.PIPE)
    made = []
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        for index in range(count):
            time.sleep(0.2)
            prefix = workdir / f"hang{index}"
            subprocess.run(["gcore", "-o", str(prefix), str(process.pid)], check=True,
                           capture_output=True, timeout=180)  # fmt: skip
            made.append(prefix.with_name(f"{prefix.name}.{process.pid}"))
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    return made


def test_every_file_is_accounted_for_once_per_bug(
    tmp_path: Path, watcher: Callable[..., Watcher]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    crashes = []
    for index, python in enumerate(pythons()):
        directory = work / f"release-{index}"
        directory.mkdir()
        (directory / "decoder.py").write_text(BUG)
        crashes.append(
            Path(make_core([python, "-E", str(directory / "decoder.py")], str(directory)))
        )
    hangs = snapshots(work, 2)
    whole = crashes[0].read_bytes()
    truncated = work / "truncated.core"
    truncated.write_bytes(whole[: len(whole) // 3])
    spool = tmp_path / "spool"
    spool.mkdir()
    files = [*crashes, *hangs, truncated]
    first = watcher(spool, "--workers", "1")
    for index, path in enumerate(files):
        os.replace(path, spool / f"{index}-{path.name}")  # a collector's atomic hand-over
    db: Any = first.db
    wait_until(lambda: any(row["status"] == "analyzing" for row in rows(db)), 120, "a claim")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # mid-batch, no chance to clean up
    watcher(spool, "--workers", "2")
    found = wait_until(lambda: settled(db, len(files)), 300, "every core analyzed")
    assert len(found) == len(files)  # each file once: not lost, not doubled
    by_name = {Path(row["path"]).name.split("-", 1)[1]: row for row in found}
    failed = by_name[truncated.name]
    assert failed["status"] == "failed" and failed["error"].startswith("core truncated: ")
    assert failed["group_id"] is None and failed["signal"] == "SIGABRT"
    bug_groups = {by_name[path.name]["group_id"] for path in crashes}
    hang_groups = {by_name[path.name]["group_id"] for path in hangs}
    assert len(bug_groups) == 1 and len(hang_groups) == 1, found
    assert bug_groups.isdisjoint(hang_groups)
    groups = {row["id"]: row for row in rows(db, "SELECT * FROM groups")}
    (hang,) = (groups[group] for group in hang_groups)
    assert hang["kind"] == "hang" and "wait_for_reply" in hang["signature"], hang
    (bug,) = (groups[group] for group in bug_groups)
    assert bug["kind"] == "crash" and "decoder:parse_header" in bug["signature"], bug
