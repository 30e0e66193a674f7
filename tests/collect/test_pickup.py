"""A core handed over complete (moved in, renamed in place, or closed) is queued without the
settle time, which applies only to files found by a scan. Not a timed test: the settle time is
30 s here, and each file must be queued well before it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import kernel_arguments, run_collector

SETTLE = 30.0
WELL_BEFORE = 10.0


def crashes(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute("SELECT * FROM crashes ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    spool = tmp_path / "spool"
    spool.mkdir()
    db = tmp_path / "t.db"
    log = tmp_path / "watch.log"
    with open(log, "wb") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "triage", "watch", str(spool), "--db", f"sqlite:///{db}",
             "--settle", str(SETTLE), "--rescan", "600", "--workers", "1", "--no-report"],
            stdout=stream,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b"watching" not in log.read_bytes():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield spool, db
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
        assert b"Traceback" not in log.read_bytes()


def queued_after(db: Path, name: str, started: float) -> float:
    while not any(Path(c["path"]).name == name for c in crashes(db)):
        assert time.monotonic() - started < WELL_BEFORE, f"{name} waited for the settle time"
        time.sleep(0.02)
    return time.monotonic() - started


def distinct(core: Path, target: Path, salt: str) -> Path:
    shutil.copyfile(core, target)
    with open(target, "ab") as stream:
        stream.write(salt.encode())
    return target


def test_moved_renamed_and_closed_cores_are_queued_at_once(
    watched: tuple[Path, Path], tmp_path: Path, core: Path
) -> None:
    spool, db = watched
    staged = distinct(core, tmp_path / "staged", "mv")
    started = time.monotonic()
    subprocess.run(["mv", str(staged), str(spool / "core.moved")], check=True)
    moved = queued_after(db, "core.moved", started)

    temporary = distinct(core, spool / ".core.renamed.tmp", "rename")
    started = time.monotonic()
    os.replace(temporary, spool / "core.renamed")
    renamed = queued_after(db, "core.renamed", started)

    started = time.monotonic()
    distinct(core, spool / "core.closed", "close")
    closed = queued_after(db, "core.closed", started)
    print(f"queued after: mv {moved:.2f} s, rename {renamed:.2f} s, close {closed:.2f} s")


def test_the_collector_hands_a_core_to_the_watcher_with_its_sidecar(
    watched: tuple[Path, Path], core: Path
) -> None:
    spool, db = watched
    started = time.monotonic()
    with open(core, "rb") as stdin:
        run_collector(spool, kernel_arguments(os.getpid(), 6, sys.executable, "web-4"), stdin)
    while not crashes(db) or crashes(db)[0]["status"] not in ("done", "failed"):
        assert time.monotonic() - started < 120
        time.sleep(0.1)
    (row,) = crashes(db)  # the sidecar and the log are not crashes
    assert (row["status"], row["host"], row["executable"]) == ("done", "web-4", sys.executable)
    context = json.loads(row["context"])
    assert context["pid"] == os.getpid() and context["signal_name"] == "SIGABRT"
    assert row["crashed_at"][:10] == time.strftime("%Y-%m-%d", time.gmtime())


def test_a_crash_whose_core_was_dropped_is_counted_as_failed(
    watched: tuple[Path, Path], core: Path
) -> None:
    spool, db = watched
    for number in range(2):
        arguments = kernel_arguments(os.getpid(), 11, sys.executable, "web-5")
        arguments[3] = str(1_700_000_000 + number)
        with open(core, "rb") as stdin:
            run_collector(spool, arguments, stdin, "--rate-limit", "1")
    started = time.monotonic()
    while len(crashes(db)) < 2 or any(c["status"] not in ("done", "failed") for c in crashes(db)):
        assert time.monotonic() - started < 120, crashes(db)
        time.sleep(0.1)
    time.sleep(1.0)  # a rescan or a late event must not add rows
    kept, dropped = sorted(crashes(db), key=lambda c: c["status"] == "failed")
    assert kept["status"] == "done" and kept["path"].endswith(".1700000000")
    assert (dropped["status"], dropped["host"], dropped["size"]) == ("failed", "web-5", 0)
    assert dropped["error"] == "core not kept by the collector: rate limit"
    assert dropped["path"].endswith(".1700000001") and len(crashes(db)) == 2
