"""Recording one spool file (``triage.spool.intake.ingest_file``), without any analysis."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from triage import _native
from triage.spool.intake import ingest_file
from triage.spool.names import is_candidate
from triage.store import FAILED, PENDING, Crash, Store, open_store
from triage.store.queue import MACHINE_KEY, this_machine


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    path.mkdir()
    return path


def crash(store: Store, crash_id: int | None) -> Crash:
    assert crash_id is not None
    with store.session() as session:
        found = session.get(Crash, crash_id)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("name", "candidate"),
    [
        ("core.123", True),
        ("core", True),
        (".core.123", False),
        (".#core.abc", False),
        ("core.123.tmp", False),
        ("core.123.part", False),
        ("core.123.json", False),
    ],
)
def test_spool_temporaries_are_not_candidates(name: str, candidate: bool) -> None:
    assert is_candidate(f"/spool/{name}") is candidate


def test_a_core_is_queued_with_its_sidecar(
    store: Store, spool: Path, cores: dict[str, list[Path]]
) -> None:
    core = spool / "core.1"
    shutil.copyfile(cores["abort"][0], core)
    context = {"host": "web-7", "service": "shop", "release": "1.2", "tags": {"az": "b"}}
    (spool / "core.1.json").write_text(json.dumps(context))
    intake = ingest_file(store, str(core), str(spool))
    assert intake.outcome == "queued"
    row = crash(store, intake.crash_id)
    assert (row.status, row.host, row.service, row.release) == (PENDING, "web-7", "shop", "1.2")
    info = core.stat()
    identity = {"dev": info.st_dev, "ino": info.st_ino, "size": info.st_size}
    identity.update(mtime_ns=info.st_mtime_ns, ctime_ns=info.st_ctime_ns)
    assert row.context == {**context, "_identity": identity, MACHINE_KEY: this_machine()}
    assert row.sha256 is not None and row.size == core.stat().st_size


CHUNK = 128 << 10  # the extension's read size


@pytest.mark.parametrize("size", [64, 65, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 1000, 9 << 20])
def test_content_hash_is_the_whole_file(store: Store, spool: Path, size: int) -> None:
    """The hash is read in chunks: every size around a boundary."""
    data = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x04\x00" + os.urandom(size - 18)
    core = spool / "core.hash"
    core.write_bytes(data)
    intake = ingest_file(store, str(core), str(spool))
    assert intake.outcome == "queued", intake
    assert crash(store, intake.crash_id).sha256 == hashlib.sha256(data).hexdigest()


def test_hashing_reads_from_the_start_and_leaves_the_descriptor_alone(tmp_path: Path) -> None:
    data = os.urandom(CHUNK + 5)
    path = tmp_path / "file"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 64, os.SEEK_SET)
        assert _native.sha256_of_file(fd) == hashlib.sha256(data).hexdigest()
        assert os.lseek(fd, 0, os.SEEK_CUR) == 64
    finally:
        os.close(fd)


@pytest.mark.parametrize("what", ["write-only", "directory"])
def test_a_read_error_while_hashing_is_an_oserror(tmp_path: Path, what: str) -> None:
    if what == "directory":
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    else:
        fd = os.open(tmp_path / "file", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError):
            _native.sha256_of_file(fd)
    finally:
        os.close(fd)


def test_the_same_core_twice_is_one_crash(
    store: Store, spool: Path, cores: dict[str, list[Path]]
) -> None:
    first = ingest_file(store, str(shutil.copyfile(cores["abort"][0], spool / "a")), str(spool))
    again = ingest_file(store, str(spool / "a"), str(spool))
    copy = ingest_file(store, str(shutil.copyfile(cores["abort"][0], spool / "b")), str(spool))
    assert first.outcome == "queued"
    assert (again.outcome, again.crash_id) == ("known", first.crash_id)  # the same file
    assert (copy.outcome, copy.crash_id) == ("duplicate", first.crash_id)  # the same content


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "empty file"),
        (os.urandom(4096), "not a core file"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00" + b"\0" * 100, "an executable, not"),
    ],
    ids=["zero-bytes", "random-bytes", "elf-header-not-core"],
)
def test_files_that_are_not_cores_are_recorded_failed(
    store: Store, spool: Path, content: bytes, error: str
) -> None:
    path = spool / "core.bad"
    path.write_bytes(content)
    intake = ingest_file(store, str(path), str(spool))
    assert intake.outcome == "failed" and error in (intake.error or "")
    assert crash(store, intake.crash_id).status == FAILED
    assert path.read_bytes() == content  # never touched


def test_a_real_executable_is_not_a_core(store: Store, spool: Path) -> None:
    path = Path(shutil.copyfile("/bin/true", spool / "true"))
    intake = ingest_file(store, str(path), str(spool))
    assert intake.outcome == "failed"
    assert "ELF file but a shared object" in (intake.error or "") or "executable" in (
        intake.error or ""
    )


def test_a_failed_file_is_not_recorded_again_on_rescan(store: Store, spool: Path) -> None:
    path = spool / "empty"
    path.touch()
    first = ingest_file(store, str(path), str(spool))
    second = ingest_file(store, str(path), str(spool))
    assert (second.outcome, second.crash_id) == ("known", first.crash_id)


def test_symlinks_out_of_the_spool_are_not_followed(
    store: Store, spool: Path, tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    (spool / "escape").symlink_to(cores["abort"][0])
    (spool / "passwd").symlink_to("/etc/passwd")
    for name in ("escape", "passwd"):
        intake = ingest_file(store, str(spool / name), str(spool))
        assert intake.outcome == "failed" and "outside the spool" in (intake.error or "")
        assert crash(store, intake.crash_id).sha256 is None  # the target was never read


def test_a_symlink_inside_the_spool_counts_as_its_target(store: Store, spool: Path) -> None:
    (spool / "real").write_bytes(b"x")
    (spool / "link").symlink_to(spool / "real")
    assert ingest_file(store, str(spool / "link"), str(spool)).outcome == "ignored"


def test_explicit_ingest_follows_symlinks(
    store: Store, tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    link = tmp_path / "link"
    link.symlink_to(cores["segv"][0])
    assert ingest_file(store, str(link)).outcome == "queued"


def test_a_fifo_is_not_a_regular_file(store: Store, spool: Path) -> None:
    os.mkfifo(spool / "fifo")
    intake = ingest_file(store, str(spool / "fifo"), str(spool))
    assert intake.outcome == "failed" and intake.error == "not a regular file"


def test_a_broken_sidecar_is_noted_not_fatal(
    store: Store, spool: Path, cores: dict[str, list[Path]]
) -> None:
    shutil.copyfile(cores["segv"][1], spool / "core.9")
    (spool / "core.9.json").write_text("{not json")
    intake = ingest_file(store, str(spool / "core.9"), str(spool))
    assert intake.outcome == "queued"
    assert "not valid JSON" in crash(store, intake.crash_id).context["sidecar_error"]  # type: ignore[index]


def _fake_core(path: Path, size: int) -> bytes:
    data = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x04\x00" + os.urandom(size - 18)
    path.write_bytes(data)
    return data


def test_ingest_hashes_ahead_only_what_stays_the_same(store: Store, tmp_path: Path) -> None:
    """`triage ingest` hashes the next cores while it records the current ones; a core changed
    in between is hashed again, never recorded with the hash of its former content."""
    from triage.cli.ingest import _Feed

    paths = [tmp_path / f"core.{n}" for n in range(4)]
    contents = [_fake_core(path, 100_000 + n) for n, path in enumerate(paths)]
    feed = _Feed([str(path) for path in paths], "host-1")
    feed.store = store
    feed.BATCH = 1  # one core per call: the test changes core.1 after core.0's turn
    while not feed.ids:
        assert feed()[0]  # core.0 recorded once hashed, the next ones being hashed
    assert str(paths[0]) not in feed.hashes
    feed.hashes[str(paths[1])][1].result()
    contents[1] = _fake_core(paths[1], 200_000)  # another file (and size) under that name
    while feed()[0]:
        pass
    assert feed.executor is None
    hashes = [crash(store, crash_id).sha256 for crash_id in feed.ids]
    assert hashes == [hashlib.sha256(data).hexdigest() for data in contents]
