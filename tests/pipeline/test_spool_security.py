"""The spool is a trust boundary: hostile names, links, FIFOs and sidecars in one spool."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from triage.errors import InputError
from triage.spool.identity import IDENTITY_KEY, open_recorded, open_verified
from triage.spool.intake import ingest_file
from triage.spool.names import PATH_BYTES_KEY, real_path
from triage.store import Crash, Store, open_store

from .conftest import Watcher, rows, settled, wait_until

MARKER = "MARKER-5f0c1e-never-read"
CONTROL_NAME = "core.ctl\nqueued shadow as crash 99\x1b[31m"
UNDECODABLE = b"core.\xff\xfe-latin1-caf\xe9"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'security.db'}")
    yield opened
    opened.close()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A root-only file outside the spool whose content must never reach the database."""
    secret = tmp_path / "outside" / "secret.json"
    secret.parent.mkdir()
    secret.write_text(json.dumps({"host": MARKER, "service": MARKER}))
    secret.chmod(0o600)
    return secret


def row(store: Store, crash_id: int | None) -> Crash:
    assert crash_id is not None
    with store.session() as session:
        found = session.get(Crash, crash_id)
    assert found is not None
    return found


def database_text(db: Path | str) -> str:
    if isinstance(db, str):  # PostgreSQL: every row of every table
        tables = rows(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return "\n".join(
            repr(row) for t in tables for row in rows(db, f"SELECT * FROM {t['tablename']}")
        )
    connection = sqlite3.connect(db)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


def test_a_name_that_is_not_utf8_is_recorded_losslessly(
    store: Store, tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    raw = os.path.join(os.fsencode(spool), UNDECODABLE)
    shutil.copyfile(cores["abort"][0], raw)
    path = os.fsdecode(raw)
    intake = ingest_file(store, path, str(spool))
    assert intake.outcome == "queued"
    crash = row(store, intake.crash_id)
    assert crash.path.endswith("core.\\xff\\xfe-latin1-caf\\xe9")  # readable, escaped
    assert crash.context[PATH_BYTES_KEY] == raw.hex()  # type: ignore[index]
    assert os.fsencode(real_path(crash.path, crash.context)) == raw
    again = ingest_file(store, path, str(spool))
    assert (again.outcome, again.crash_id) == ("known", intake.crash_id)


def test_sidecars_are_never_followed_nor_waited_on(
    store: Store, tmp_path: Path, outside: Path, cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    shutil.copyfile(cores["abort"][0], spool / "core.linked")
    (spool / "core.linked.json").symlink_to(outside)
    shutil.copyfile(cores["segv"][0], spool / "core.fifo-sidecar")
    os.mkfifo(spool / "core.fifo-sidecar.json")
    linked = row(store, ingest_file(store, str(spool / "core.linked"), str(spool)).crash_id)
    assert "symbolic link: not followed" in linked.context["sidecar_error"]  # type: ignore[index]
    assert linked.host is None
    fifo = row(store, ingest_file(store, str(spool / "core.fifo-sidecar"), str(spool)).crash_id)
    assert "not a regular file" in fifo.context["sidecar_error"]  # type: ignore[index]
    assert MARKER not in database_text(tmp_path / "security.db")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"host": "a\\u0000b\\udc80", "n": NaN, "k\\u0000": [1]}', None),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a":' * 100 + "1" + "}" * 100, "nested"),
    ],
    ids=["nul-surrogate-nan", "deep-array", "deep-object"],
)
def test_hostile_sidecar_content_is_stored_safely_or_noted(
    store: Store, tmp_path: Path, cores: dict[str, list[Path]], content: str, expected: str | None
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    shutil.copyfile(cores["abort"][0], spool / "core.odd")
    (spool / "core.odd.json").write_text(content)
    crash = row(store, ingest_file(store, str(spool / "core.odd"), str(spool)).crash_id)
    context = crash.context or {}
    if expected is None:
        assert crash.host == "a\\x00b\\udc80"
        assert (context["host"], context["n"], context["k\\x00"]) == (crash.host, "nan", [1])
    else:
        assert expected in context["sidecar_error"]


def test_a_symlink_loop_gets_a_failed_row(store: Store, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "loop-a").symlink_to(spool / "loop-b")
    (spool / "loop-b").symlink_to(spool / "loop-a")
    intake = ingest_file(store, str(spool / "loop-a"), str(spool))
    assert intake.outcome == "failed" and intake.error == "symbolic link loop: not followed"


def test_a_queued_core_replaced_afterwards_is_refused(
    store: Store, tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    core = spool / "core.swapped"
    shutil.copyfile(cores["abort"][0], core)
    crash = row(store, ingest_file(store, str(core), str(spool)).crash_id)
    identity = crash.context[IDENTITY_KEY]  # type: ignore[index]
    assert (identity["dev"], identity["ino"]) == (core.stat().st_dev, core.stat().st_ino)
    fd = open_recorded(crash.path, crash.context)  # still the same file: opened
    try:
        assert os.read(fd, 4) == b"\x7fELF"
    finally:
        os.close(fd)
    core.unlink()
    core.symlink_to(cores["segv"][0])  # a core outside the spool
    with pytest.raises(InputError, match="replaced by a symbolic link"):
        open_recorded(crash.path, crash.context)
    core.unlink()
    shutil.copyfile(cores["segv"][0], core)  # another file, maybe with the same inode number
    with pytest.raises(InputError, match="replaced by another file"):
        open_recorded(crash.path, crash.context)
    core.unlink()
    os.mkfifo(core)
    with pytest.raises(InputError, match="no longer a regular file"):
        open_verified(str(core), identity["dev"], identity["ino"])


def test_ingest_of_a_name_that_is_not_utf8_does_not_crash(
    tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    raw = os.path.join(os.fsencode(tmp_path), UNDECODABLE)
    shutil.copyfile(cores["abort"][0], raw)
    result = subprocess.run(
        [sys.executable, "-m", "triage", "ingest", raw, "--db", f"sqlite:///{tmp_path / 'i.db'}"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    assert b"Traceback" not in result.stderr and b"unexpected" not in result.stderr
    assert b"core.\\xff\\xfe-latin1-caf\\xe9" in result.stdout


def test_every_hostile_entry_in_one_spool(
    tmp_path: Path,
    watcher: Callable[..., Watcher],
    cores: dict[str, list[Path]],
    outside: Path,
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    abort, other, segv = cores["abort"], cores["other_abort"], cores["segv"]
    # Ordinary cores, some with hostile sidecars.
    shutil.copyfile(abort[0], spool / "good.plain")
    (spool / "good.plain.json").write_text(json.dumps({"host": "web-1"}))
    shutil.copyfile(other[0], spool / "good.fifo-sidecar")
    os.mkfifo(spool / "good.fifo-sidecar.json")
    shutil.copyfile(segv[0], spool / "good.linked-sidecar")
    (spool / "good.linked-sidecar.json").symlink_to(outside)
    shutil.copyfile(segv[1], spool / CONTROL_NAME)
    # Hostile entries.
    shutil.copyfile(other[1], os.path.join(os.fsencode(spool), UNDECODABLE))
    os.mkfifo(spool / "core.fifo")
    (spool / "core.escape").symlink_to(abort[1])
    (spool / "core.secret").symlink_to(outside)
    (spool / "loop-a").symlink_to(spool / "loop-b")
    (spool / "loop-b").symlink_to(spool / "loop-a")
    (spool / "core.directory").mkdir()
    (spool / "core.empty").touch()
    with open(spool / "core.sparse", "wb") as stream:
        stream.truncate(64 << 30)  # 64 GiB of nothing: not a core, and not read through

    watch = watcher(spool)
    expected = 12
    crashes = wait_until(lambda: settled(watch.db, expected), 120, f"{expected} crashes")
    by_name = {Path(c["path"]).name: c for c in crashes}
    assert len(crashes) == expected, sorted(by_name)
    for name in ("good.plain", "good.fifo-sidecar", "good.linked-sidecar", CONTROL_NAME):
        assert by_name[name]["status"] == "done", (name, by_name[name]["error"])
    assert by_name["good.plain"]["host"] == "web-1"
    failures = {
        "core.fifo": "not a regular file",
        "core.escape": "outside the spool",
        "core.secret": "outside the spool",
        "loop-a": "symbolic link loop",
        "loop-b": "symbolic link loop",
        "core.empty": "empty file",
        "core.sparse": "not a core file",
    }
    for name, error in failures.items():
        assert by_name[name]["status"] == "failed" and error in by_name[name]["error"], name
    undecodable = by_name["core.\\xff\\xfe-latin1-caf\\xe9"]
    raw = os.path.join(os.fsencode(spool), UNDECODABLE)
    assert json.loads(undecodable["context"])[PATH_BYTES_KEY] == raw.hex()
    print("name not UTF-8:", undecodable["status"], undecodable["error"])
    assert "core.directory" not in by_name

    assert watch.process.poll() is None  # still up after all of it
    text = database_text(watch.db)
    assert MARKER not in text and MARKER not in watch.text()
    watch.stop()  # the report is rendered by then
    for page in (tmp_path / "triage-reports").rglob("*"):
        assert not page.is_file() or MARKER.encode() not in page.read_bytes(), page
    outside_hashes = {c["sha256"] for c in rows(watch.db)} & {_sha256(abort[1])}
    assert not outside_hashes  # the core behind the link was never hashed nor queued
    log = watch.text()
    assert "Traceback" not in log
    assert not any(line.startswith("queued shadow") for line in log.splitlines())
    assert "\x1b" not in log and "core.ctl\\nqueued shadow" in log
    assert watch.process.returncode == 0


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_core_replaced_by_a_link_between_queue_and_analysis_is_not_analyzed(
    store: Store, tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    import inspect

    from triage.spool import worker

    if "open_recorded" not in inspect.getsource(worker):
        pytest.skip("the worker does not check the identity recorded at intake yet")
    spool = tmp_path / "spool"
    spool.mkdir()
    core = spool / "core.raced"
    shutil.copyfile(cores["abort"][0], core)
    queued = ingest_file(store, str(core), str(spool))
    assert queued.outcome == "queued"
    core.unlink()
    core.symlink_to(cores["segv"][0])  # after the intake's checks, before the analysis
    result = subprocess.run(
        [sys.executable, "-m", "triage", "ingest", "--retry-failed", "--no-report",
         "--db", f"sqlite:///{tmp_path / 'security.db'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    crash = row(store, queued.crash_id)
    assert crash.status == "failed" and "replaced by a symbolic link" in (crash.error or "")
    assert crash.signature is None  # the core outside the spool was never analyzed


def test_a_lone_sidecar_counts_only_as_a_record_of_a_dropped_core(
    store: Store, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "core.gone.json").write_text(json.dumps({"core": "dropped: rate limit", "pid": 7}))
    (spool / "core.coming.json").write_text(json.dumps({"core": "core.coming", "pid": 8}))
    os.mkfifo(spool / "core.fifo.json")
    first = ingest_file(store, str(spool / "core.gone.json"), str(spool))
    assert first.outcome == "failed" and first.error == "core not kept by the collector: rate limit"
    again = ingest_file(store, str(spool / "core.gone.json"), str(spool))
    assert (again.outcome, again.crash_id) == ("known", first.crash_id)
    assert row(store, first.crash_id).path == str(spool / "core.gone")
    for name in ("core.coming.json", "core.fifo.json"):
        assert ingest_file(store, str(spool / name), str(spool)).outcome == "ignored"
