"""`triage watch` end to end: a real watcher process, real cores dropped as collectors do."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Watcher, copy_core, rows, run_triage, settled, wait_until

NO_DAC = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


def write_then_rename(source: Path, target: Path) -> None:
    temporary = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, temporary)
    os.rename(temporary, target)


def copy_slowly(source: Path, target: Path, chunk: int = 512 << 10, pause: float = 0.1) -> None:
    """A slow writer (scp, NFS): chunks with pauses, the file open the whole time."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while block := reader.read(chunk):
            writer.write(block)
            writer.flush()
            time.sleep(pause)


def distinct_copy(source: Path, target: Path, salt: str) -> Path:
    """The same crash with other content (trailing bytes): a distinct core to the pipeline."""
    shutil.copyfile(source, target)
    with open(target, "ab") as stream:
        stream.write(salt.encode())
    return target


def groups_by_bug(crashes: list[dict[str, Any]], bug_of: Callable[[str], str]) -> dict[str, set]:
    found: dict[str, set] = {}
    for crash in crashes:
        found.setdefault(bug_of(crash["path"]), set()).add(crash["group_id"])
    return found


def test_cores_dropped_every_way_are_ingested_once_and_grouped(
    tmp_path: Path, watcher: Callable[..., Watcher], cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    (spool / "host-4").mkdir(parents=True)
    watch = watcher(spool)
    abort, other, segv = cores["abort"], cores["other_abort"], cores["segv"]
    copy_core(abort[0], spool / "abort.in-place", {"host": "web-1"})
    write_then_rename(abort[1], spool / "abort.renamed")
    slow = threading.Thread(target=copy_slowly, args=(abort[2], spool / "abort.slow"))
    slow.start()
    write_then_rename(abort[3], spool / "host-4" / "abort.subdir")
    copy_core(other[0], spool / "other.in-place", {"host": "web-2"})
    copy_core(other[1], spool / "other.again")
    write_then_rename(segv[0], spool / "segv.renamed")
    copy_slowly(segv[1], spool / "segv.slow")
    slow.join()
    shutil.copyfile(abort[0], spool / "abort.duplicate")  # same content: the same crash
    (spool / ".hidden").write_bytes(b"x")
    (spool / "still-writing.part").write_bytes(b"x")

    crashes = wait_until(lambda: settled(watch.db, 8), 90, "8 crashes")
    time.sleep(1.5)  # let a late duplicate show up if it would
    crashes = rows(watch.db)
    assert len(crashes) == 8, [c["path"] for c in crashes]
    assert all(c["status"] == "done" for c in crashes), [(c["path"], c["error"]) for c in crashes]
    assert len({c["sha256"] for c in crashes}) == 8
    names = sorted(Path(c["path"]).name for c in crashes)
    assert "abort.duplicate" not in names and not any(n.startswith(".") for n in names)
    slow_row = next(c for c in crashes if c["path"].endswith("abort.slow"))
    assert slow_row["size"] == abort[2].stat().st_size  # analyzed only once complete
    by_bug = groups_by_bug(crashes, lambda path: Path(path).name.split(".")[0])
    assert all(len(ids) == 1 for ids in by_bug.values()), by_bug
    assert len({next(iter(ids)) for ids in by_bug.values()}) == 3
    assert {c["host"] for c in crashes} >= {"web-1", "web-2"}
    group_counts = {g["id"]: g["count"] for g in rows(watch.db, "SELECT * FROM groups")}
    assert sorted(group_counts.values()) == [2, 2, 4]

    assert watch.stop(signal.SIGTERM) == 0
    assert "stopped" in watch.text() and "Traceback" not in watch.text()
    for core in abort + other + segv:
        assert core.exists()  # never moved or deleted


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def test_kill_9_mid_batch_then_restart_loses_nothing(
    tmp_path: Path, watcher: Callable[..., Watcher], cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    sources = cores["abort"] + cores["segv"]
    total = 40
    for number in range(total):
        distinct_copy(sources[number % len(sources)], spool / f"core.{number}", f"#{number}")
    first = watcher(spool)
    workers = wait_until(lambda: _children(first.process.pid), 30, "workers")
    wait_until(lambda: sum(c["status"] == "done" for c in rows(first.db)) >= 3, 60, "3 done")
    first.stop(signal.SIGKILL)
    at_kill = Counter(c["status"] for c in rows(first.db))
    assert at_kill["done"] < total, at_kill  # really in the middle of the batch
    # The workers of a killed watcher go with it (no orphan keeps analyzing).
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10, "orphans")

    second = watcher(spool)
    crashes = wait_until(lambda: settled(second.db, total), 120, f"{total} crashes")
    assert len(crashes) == total, at_kill
    assert sorted(Path(c["path"]).name for c in crashes) == sorted(
        f"core.{n}" for n in range(total)
    )
    assert all(c["status"] == "done" for c in crashes), [c["error"] for c in crashes]
    groups = rows(second.db, "SELECT * FROM groups")
    assert sum(g["count"] for g in groups) == total  # nothing counted twice
    assert second.stop() == 0


def test_a_core_that_hangs_crashes_or_exhausts_its_worker_fails_alone(
    tmp_path: Path, watcher: Callable[..., Watcher], cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    env = dict(os.environ, TRIAGE_WORKER_FAULT="hang:HANGS,crash:CRASHES,oom:EXHAUSTS")
    watch = watcher(spool, "--time-limit", "3", "--memory-limit", "200", env=env)
    for name in ("HANGS", "CRASHES", "EXHAUSTS"):
        distinct_copy(cores["abort"][0], spool / f"core.{name}", name)
    for number, core in enumerate(cores["segv"] + cores["other_abort"]):
        distinct_copy(core, spool / f"core.good{number}", f"good{number}")
    crashes = wait_until(lambda: settled(watch.db, 7), 90, "7 crashes")
    outcome = {Path(c["path"]).name: (c["status"], c["error"] or "") for c in crashes}
    assert (
        outcome["core.HANGS"][0] == "failed" and "timed out after 3 s" in outcome["core.HANGS"][1]
    )
    assert outcome["core.CRASHES"] == ("failed", "the analysis crashed the worker (SIGABRT)")
    assert (
        outcome["core.EXHAUSTS"][0] == "failed" and "out of memory" in outcome["core.EXHAUSTS"][1]
    )
    good = {name: value for name, value in outcome.items() if "good" in name}
    assert all(status == "done" for status, _ in good.values()), good
    assert watch.process.poll() is None  # the watcher itself carried on
    assert watch.stop() == 0


def test_bad_inputs_in_an_unwritable_spool_get_a_clear_status(
    tmp_path: Path,
    watcher: Callable[..., Watcher],
    cores: dict[str, list[Path]],
    sleep_core: Path,
) -> None:
    """Without CAP_DAC_OVERRIDE (as any non-root watcher): mode bits apply, even to root."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop the DAC capabilities")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "zero").touch()
    (spool / "random").write_bytes(os.urandom(8192))
    shutil.copyfile("/bin/true", spool / "elf-not-core")
    shutil.copyfile(sleep_core, spool / "core.sleep")
    shutil.copyfile(cores["segv"][0], spool / "unreadable")
    (spool / "unreadable").chmod(0o000)
    (spool / "escape").symlink_to(cores["abort"][0])
    shutil.copyfile(cores["abort"][0], spool / "good")
    for path in spool.iterdir():
        if not path.is_symlink() and path.name != "unreadable":
            path.chmod(0o444)
    spool.chmod(0o555)  # the watcher never needs to write to a spool
    try:
        watch = watcher(spool, prefix=NO_DAC)
        crashes = wait_until(lambda: settled(watch.db, 7), 90, "7 crashes")
    finally:
        spool.chmod(0o755)
    outcome = {Path(c["path"]).name: c for c in crashes}
    expected_errors = {
        "zero": "empty file",
        "random": "not a core file",
        "elf-not-core": "ELF file but",
        "unreadable": "permission denied",
        "escape": "outside the spool",
    }
    for name, error in expected_errors.items():
        assert outcome[name]["status"] == "failed", outcome[name]
        assert error in outcome[name]["error"], outcome[name]["error"]
    assert outcome["good"]["status"] == "done"
    # A core of a process that is not Python is grouped by its native stack.
    assert outcome["core.sleep"]["status"] == "done", outcome["core.sleep"]
    assert outcome["core.sleep"]["signature"].startswith("SIGSEGV")
    assert outcome["core.sleep"]["group_id"] is not None
    assert watch.stop() == 0


def test_sigterm_stops_cleanly_and_in_flight_work_resumes(
    tmp_path: Path, watcher: Callable[..., Watcher], cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    distinct_copy(cores["segv"][0], spool / "core.SLOW", "slow")
    env = dict(os.environ, TRIAGE_WORKER_FAULT="hang:SLOW")
    first = watcher(spool, env=env)
    wait_until(lambda: [c for c in rows(first.db) if c["status"] == "analyzing"], 30, "claim")
    assert first.stop(signal.SIGTERM) == 0
    assert [c["status"] for c in rows(first.db)] == ["pending"]  # given back, not lost
    second = watcher(spool)
    crashes = wait_until(lambda: settled(second.db, 1), 60, "resumed crash")
    assert crashes[0]["status"] == "done"
    assert second.stop(signal.SIGINT) == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # SQLite's own locking
def test_a_database_locked_by_another_writer_delays_but_loses_nothing(
    tmp_path: Path, watcher: Callable[..., Watcher], cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    watch = watcher(spool, url_query="?timeout=0.3")
    holder = sqlite3.connect(watch.db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # e.g. a long `triage resign` or a backup
    try:
        copy_core(cores["abort"][0], spool / "core.during-lock")
        wait_until(lambda: "locked" in watch.text(), 30, "the watcher to meet the lock")
        time.sleep(1.0)
    finally:
        holder.rollback()
        holder.close()
    crashes = wait_until(lambda: settled(watch.db, 1), 60, "the crash after the lock")
    assert [c["status"] for c in crashes] == ["done"]
    assert watch.process.poll() is None and "Traceback" not in watch.text()
    assert watch.stop() == 0


def test_a_spool_that_is_not_a_directory_fails_in_one_line(tmp_path: Path) -> None:
    result = run_triage("watch", str(tmp_path / "absent"), cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr.strip() == f"triage: error: spool {tmp_path / 'absent'} is not a directory"


def test_a_backlog_is_recorded_in_batches_once_each(
    tmp_path: Path, watcher: Callable[..., Watcher], cores: dict[str, list[Path]]
) -> None:
    """A spool that holds more files than one intake batch when the watcher starts: each file
    recorded once, duplicates (in one batch or across two) known as such, one group."""
    spool = tmp_path / "spool"
    spool.mkdir()
    data = cores["abort"][0].read_bytes()
    for number in range(40):  # a distinct content each: a salt after the core's last byte
        (spool / f"core.{number}").write_bytes(data + number.to_bytes(4, "little"))
    for number in (1, 39):  # the same content as core.1 and core.39
        (spool / f"copy.{number}").write_bytes(data + number.to_bytes(4, "little"))
    watch = watcher(spool)
    crashes = wait_until(lambda: settled(watch.db, 40), 180, "40 crashes")
    time.sleep(1.0)  # a duplicate recorded late would show up now
    crashes = rows(watch.db)
    assert len(crashes) == 40 and {c["status"] for c in crashes} == {"done"}
    names = {Path(c["path"]).name for c in crashes}
    for number in (1, 39):  # whichever of the two came first
        assert len(names & {f"core.{number}", f"copy.{number}"}) == 1, sorted(names)
    assert {g["count"] for g in rows(watch.db, "SELECT * FROM groups")} == {40}
    assert watch.text().count("the same core as crash") == 2, watch.text()
    assert watch.stop(signal.SIGTERM) == 0
