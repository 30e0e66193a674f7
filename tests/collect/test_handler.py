"""`triage collect` run as the kernel runs it: stdin, arguments, no environment, cwd `/`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import kernel_arguments, leftovers, run_collector, triage_command

STATE = ".coretriage"


def sidecars(spool: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(spool.glob("*.json"))]


def build_id_of(path: str) -> str | None:
    """The build id as readelf prints it: the tests do not trust the code under test."""
    out = subprocess.run(["readelf", "-n", os.path.realpath(path)], capture_output=True, text=True)
    match = re.search(r"Build ID: ([0-9a-f]+)", out.stdout)
    return match.group(1) if match else None


def test_a_core_is_written_whole_with_its_sidecar(
    tmp_path: Path, core: Path, live: subprocess.Popen[bytes]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    started = time.monotonic()
    with open(core, "rb") as stdin:
        result = run_collector(spool, kernel_arguments(live.pid, 6, sys.executable), stdin)
    elapsed = time.monotonic() - started
    assert result.returncode == 0
    written = [p for p in spool.iterdir() if not p.name.endswith(".json") and p.is_file()]
    assert len(written) == 1 and written[0].read_bytes() == core.read_bytes()
    assert written[0].stat().st_mode & 0o777 == 0o640
    assert leftovers(spool) == []
    sidecar = json.loads((spool / f"{written[0].name}.json").read_text())
    assert sidecar["core"] == written[0].name
    assert (sidecar["pid"], sidecar["tid"], sidecar["signal"]) == (live.pid, live.pid, 6)
    assert sidecar["signal_name"] == "SIGABRT" and sidecar["host"] == "web-1"
    assert sidecar["executable"] == sys.executable
    assert sidecar["cmdline"][1:] == ["-c", "import sys; sys.stdin.read()"]
    assert sidecar["uid"] == os.getuid() and sidecar["gid"] == os.getgid()
    assert sidecar["build_id"] == build_id_of(sys.executable)
    version = "{}.{}".format(*sys.version_info[:2])
    assert sidecar["python_version"].startswith(version), sidecar["python_version"]
    assert "cgroup" in sidecar
    library = sidecar.get("python_library")  # only for an interpreter built shared
    if library is not None:
        assert "libpython" in library and sidecar["python_library_build_id"] == build_id_of(library)
    # Only allow-listed variables; service and release come from two of them.
    assert sidecar["environment"] == {
        "SERVICE_NAME": "shop",
        "SERVICE_VERSION": "4.2",
        "PYTHONPATH": "/srv/app",
    }
    assert (sidecar["service"], sidecar["release"]) == ("shop", "4.2")
    assert "hunter2" not in (spool / f"{written[0].name}.json").read_text()
    log = (spool / STATE / "collect.log").read_text()
    assert f"pid {live.pid}" in log and "stored" in log
    print(f"collector: {core.stat().st_size >> 20} MB core in {elapsed:.2f} s (process included)")


def test_compressed_with_the_zstd_binary_without_path(
    tmp_path: Path, core: Path, live: subprocess.Popen[bytes]
) -> None:
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed")
    spool = tmp_path / "spool"
    spool.mkdir()
    with open(core, "rb") as stdin:
        run_collector(
            spool, kernel_arguments(live.pid, 11, sys.executable), stdin, "--compress", "zstd"
        )
    (stored,) = spool.glob("*.zst")
    plain = subprocess.run(["zstd", "-d", "-c", str(stored)], capture_output=True, check=True)
    assert plain.stdout == core.read_bytes()
    sidecar = json.loads(Path(f"{stored}.json").read_text())
    assert sidecar["compression"] == "zstd" and sidecar["stored_bytes"] == stored.stat().st_size
    assert leftovers(spool) == []


def test_a_core_over_the_size_limit_leaves_a_sidecar_only(
    tmp_path: Path, core: Path, live: subprocess.Popen[bytes]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    with open(core, "rb") as stdin:
        result = run_collector(
            spool, kernel_arguments(live.pid, 11, sys.executable), stdin, "--max-size", "1M"
        )
    assert result.returncode == 0
    assert [p.name for p in spool.iterdir() if p.is_file()] == [
        p.name for p in spool.glob("*.json")
    ]
    (sidecar,) = sidecars(spool)
    assert sidecar["core"] == "dropped: larger than max_core_size (1048576 bytes)"
    assert sidecar["pid"] == live.pid and leftovers(spool) == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: a core does not fit."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_leaves_no_partial_file(
    tiny_disk: Path, core: Path, live: subprocess.Popen[bytes]
) -> None:
    assert core.stat().st_size > 2 << 20  # really more than the disk holds
    with open(core, "rb") as stdin:
        result = run_collector(
            tiny_disk, kernel_arguments(live.pid, 11, sys.executable), stdin, "--min-free", "0"
        )
    assert result.returncode == 0
    (sidecar,) = sidecars(tiny_disk)
    assert sidecar["core"] == "dropped: disk full"
    assert sorted(p.name for p in tiny_disk.iterdir()) == sorted(
        [STATE, *(p.name for p in tiny_disk.glob("*.json"))]
    )
    assert leftovers(tiny_disk) == []


def test_a_full_disk_under_zstd_leaves_no_partial_file(
    tiny_disk: Path, live: subprocess.Popen[bytes]
) -> None:
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed")
    noise = tiny_disk.parent / "noise"  # not on the tiny disk
    noise.write_bytes(b"\x7fELF" + os.urandom(3 << 20))  # does not compress: does not fit
    with open(noise, "rb") as stdin:
        arguments = kernel_arguments(live.pid, 11, sys.executable)
        flags = ("--min-free", "0", "--compress", "zstd")
        result = run_collector(tiny_disk, arguments, stdin, *flags)
    assert result.returncode == 0
    (sidecar,) = sidecars(tiny_disk)
    assert sidecar["core"] == "dropped: disk full"
    assert not [
        p
        for p in tiny_disk.iterdir()
        if p.name.startswith("core.") and not p.name.endswith(".json")
    ]
    assert leftovers(tiny_disk) == []


def test_the_free_space_floor_is_kept(
    tiny_disk: Path, core: Path, live: subprocess.Popen[bytes]
) -> None:
    with open(core, "rb") as stdin:
        run_collector(tiny_disk, kernel_arguments(live.pid, 11, sys.executable), stdin)
    (sidecar,) = sidecars(tiny_disk)  # the default floor (1 GiB) is above this whole disk
    assert sidecar["core"].startswith("dropped: free space below min_free")
    assert leftovers(tiny_disk) == []


def test_a_burst_over_the_rate_limit_keeps_every_crash_on_record(
    tmp_path: Path, core: Path, live: subprocess.Popen[bytes]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / STATE).mkdir()
    (spool / STATE / "collect.toml").write_text("rate_limit = 3\nrate_window = 600\n")
    burst = []
    for number in range(8):  # simultaneous crashes: handlers run in parallel
        stdin = open(core, "rb")
        arguments = kernel_arguments(live.pid, 11, sys.executable)
        arguments[3] = str(int(time.time()) + number)  # distinct names
        process = subprocess.Popen(
            [*triage_command(), "collect", str(spool), *arguments],
            stdin=stdin,
            env={},
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        burst.append((process, stdin))
    for process, stdin in burst:
        assert process.wait(timeout=60) == 0
        stdin.close()
    records = sidecars(spool)
    assert len(records) == 8  # every crash is on record
    kept = [r for r in records if not r["core"].startswith("dropped")]
    assert len(kept) == 3
    assert all(r["core"] == "dropped: rate limit" for r in records if r not in kept)
    for record in kept:
        assert (spool / record["core"]).read_bytes() == core.read_bytes()
    assert leftovers(spool) == []
    assert len((spool / STATE / "collect.log").read_text().splitlines()) == 8


def test_the_time_limit_drops_a_core_that_never_ends(
    tmp_path: Path, live: subprocess.Popen[bytes]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    reader, writer = os.pipe()
    os.write(writer, b"\x7fELF" + b"\0" * 60000)  # then nothing, and the pipe stays open
    started = time.monotonic()
    try:
        result = run_collector(
            spool, kernel_arguments(live.pid, 11, sys.executable), reader, "--time-limit", "1"
        )
    finally:
        os.close(reader)
        os.close(writer)
    assert result.returncode == 0 and time.monotonic() - started < 20
    (sidecar,) = sidecars(spool)
    assert sidecar["core"] == "dropped: time limit (1 s)"
    assert leftovers(spool) == []


def test_a_broken_configuration_does_not_cost_the_core(
    tmp_path: Path, core: Path, live: subprocess.Popen[bytes]
) -> None:
    spool = tmp_path / "spool"
    (spool / STATE).mkdir(parents=True)
    (spool / STATE / "collect.toml").write_text("max_core_size = [")
    with open(core, "rb") as stdin:
        result = run_collector(spool, kernel_arguments(live.pid, 11, sys.executable), stdin)
    assert result.returncode == 0
    (sidecar,) = sidecars(spool)
    assert (spool / sidecar["core"]).read_bytes() == core.read_bytes()
    assert "configuration ignored" in sidecar["collect_warning"]
    assert "configuration ignored" in (spool / STATE / "collect.log").read_text()


def test_a_vanished_process_and_odd_names_still_give_a_core(tmp_path: Path, core: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    arguments = ["999999999", "x", "11", "1700000000", "h", "!opt!my", "app\x1b[31m"]
    with open(core, "rb") as stdin:
        assert run_collector(spool, arguments, stdin).returncode == 0
    (sidecar,) = sidecars(spool)
    assert sidecar["executable"] == "/opt/my app\x1b[31m" and sidecar["tid"] is None
    assert (spool / sidecar["core"]).read_bytes() == core.read_bytes()
    assert sidecar["core"] == "core.my_app__31m.999999999.1700000000"
    assert "\x1b" not in (spool / STATE / "collect.log").read_text()


def test_without_the_zstd_binary_the_core_is_kept_uncompressed_for_its_group(
    tmp_path: Path, core: Path, live: subprocess.Popen[bytes]
) -> None:
    spool = tmp_path / "spool"
    (spool / STATE).mkdir(parents=True)
    (spool / STATE / "collect.toml").write_text(
        'compress = "zstd"\nzstd = "/nonexistent/zstd"\ngroup = 1\n'
    )
    with open(core, "rb") as stdin:
        run_collector(spool, kernel_arguments(live.pid, 11, sys.executable), stdin)
    (sidecar,) = sidecars(spool)
    stored = spool / sidecar["core"]
    assert not stored.name.endswith(".zst") and stored.read_bytes() == core.read_bytes()
    assert sidecar["compression"] is None and "no zstd binary" in sidecar["collect_warning"]
    assert stored.stat().st_gid == 1 and (spool / f"{stored.name}.json").stat().st_gid == 1


def test_a_second_crash_with_the_same_name_does_not_replace_the_first(
    tmp_path: Path, core: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    arguments = ["999999998", "1", "11", "1700000000", "h", "!usr!bin!app"]
    for _ in range(2):
        with open(core, "rb") as stdin:
            run_collector(spool, arguments, stdin)
    names = sorted(p.name for p in spool.iterdir() if p.is_file())
    first = "core.app.999999998.1700000000"
    assert names == [first, f"{first}.1", f"{first}.1.json", f"{first}.json"]


def test_the_handler_imports_neither_the_database_nor_the_watcher(tmp_path: Path) -> None:
    """The kernel waits for the handler: it must not pay for SQLAlchemy, watchdog or jinja2."""
    spool = tmp_path / "spool"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "triage", "collect", str(spool),
         "1", "1", "11", "1700000000", "h", "!bin!x"],
        input=b"\x7fELF" + bytes(1000),
        capture_output=True,
        cwd="/",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.decode().splitlines()}
    heavy = {"sqlalchemy", "watchdog", "jinja2", "triage.store", "triage.spool.watcher"}
    assert not imported & heavy, imported & heavy
