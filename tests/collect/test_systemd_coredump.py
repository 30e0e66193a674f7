"""Cores as systemd-coredump stores them: compressed files named core.COMM.UID.BOOT.PID.TIME
with the crash's facts in ``user.coredump.*`` extended attributes."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from triage.spool.coredump import parse_name

BOOT_ID = "0123456789abcdef0123456789abcdef"


def attributes(pid: int, stamp_us: int, host: str) -> dict[str, str]:
    return {
        "pid": str(pid),
        "uid": "1000",
        "gid": "1000",
        "signal": str(int(signal.SIGABRT)),
        "timestamp": str(stamp_us),
        "rlimit": "18446744073709551615",
        "hostname": host,
        "comm": "python3",
        "exe": sys.executable,
        "cmdline": f"{sys.executable} -E app.py",
    }


def set_attributes(target: int | str, values: dict[str, str]) -> None:
    try:
        for key, value in values.items():
            os.setxattr(target, f"user.coredump.{key}", value.encode())
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
            pytest.skip(f"this file system refuses user extended attributes: {exc.strerror}")
        raise


def compress(core: Path, tool: str) -> bytes:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    return subprocess.run([tool, "-q", "-c", str(core)], capture_output=True, check=True).stdout


def name(pid: int, stamp_us: int, suffix: str) -> str:
    return f"core.python3.1000.{BOOT_ID}.{pid}.{stamp_us}.{suffix}"


def crashes(db: Path) -> list[dict[str, Any]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute("SELECT * FROM crashes ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


def test_names_are_parsed_from_the_right() -> None:
    parsed = parse_name(name(42, 1_700_000_000_123_456, "zst").replace("python3", "my.app"))
    assert parsed is not None
    assert (parsed["comm"], parsed["uid"], parsed["pid"]) == ("my.app", 1000, 42)
    assert parsed["time"] == pytest.approx(1_700_000_000.123456)
    assert parse_name("core.1234") is None


def test_ingest_reads_compressed_cores_and_their_attributes(tmp_path: Path, core: Path) -> None:
    directory = tmp_path / "coredump"
    directory.mkdir()
    stamp = 1_700_000_000_000_000
    for number, tool in enumerate(("zstd", "lz4")):
        path = directory / name(4000 + number, stamp + number, tool[:3] if tool == "zstd" else tool)
        path.write_bytes(compress(core, tool) + b"")
        set_attributes(str(path), attributes(4000 + number, stamp + number, f"host-{number}"))
    (directory / ".#core.python3.partial").write_bytes(b"x")  # systemd's temporary: ignored
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
            "--systemd-coredump",
            str(directory),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = crashes(db)
    assert [r["status"] for r in rows] == ["done", "done"], [r["error"] for r in rows]
    assert [r["host"] for r in rows] == ["host-0", "host-1"]
    assert {r["executable"] for r in rows} == {sys.executable}
    assert rows[0]["crashed_at"].startswith("2023-11-14 22:13:20")
    import json

    context = json.loads(rows[1]["context"])
    assert (context["pid"], context["signal"], context["signal_name"]) == (4001, 6, "SIGABRT")
    assert context["collector"] == "systemd-coredump" and context["boot_id"] == BOOT_ID
    assert context["coredump"]["cmdline"].endswith("-E app.py")


def test_watch_takes_a_core_linked_into_place_at_once(tmp_path: Path, core: Path) -> None:
    directory = tmp_path / "coredump"
    directory.mkdir()
    db = tmp_path / "t.db"
    log = tmp_path / "watch.log"
    with open(log, "wb") as stream:
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "triage",
                "watch",
                "--no-report",
                "--db",
                f"sqlite:///{db}",
                "--settle",
                "30",
                "--rescan",
                "60",
                "--workers",
                "1",
                f"--systemd-coredump={directory}",
            ],
            stdout=stream,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while b"watching" not in log.read_bytes():
            assert watcher.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        # As systemd-coredump does: an unnamed file, complete, then linked under its name.
        stamp = int(time.time() * 1e6)
        fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o640)
        try:
            os.write(fd, compress(core, "zstd"))
            set_attributes(fd, attributes(777, stamp, "web-9"))
            started = time.monotonic()
            # linkat(2) with AT_SYMLINK_FOLLOW; os.link uses it only when given a directory fd.
            directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.link(
                    f"/proc/self/fd/{fd}",
                    name(777, stamp, "zst"),
                    dst_dir_fd=directory_fd,
                    follow_symlinks=True,
                )
            finally:
                os.close(directory_fd)
        finally:
            os.close(fd)
        while not crashes(db):
            assert time.monotonic() - started < 20, log.read_text()  # not the 30 s settle time
            time.sleep(0.05)
        queued = time.monotonic() - started
        while crashes(db)[0]["status"] not in ("done", "failed"):
            assert time.monotonic() - started < 120, log.read_text()
            time.sleep(0.2)
        (row,) = crashes(db)
        assert (row["status"], row["host"]) == ("done", "web-9"), row["error"]
        print(f"systemd-coredump core queued {queued:.2f} s after its link")
    finally:
        watcher.terminate()
        assert watcher.wait(timeout=30) == 0
