"""Real cores (made once per session), helpers to run `triage` as a subprocess, and the
databases: SQLite files and a throwaway PostgreSQL server (see ``pgserver``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from coretest.pgfixtures import ci  # noqa: F401 - the tests here import it from this module

from triage.samples.cores import kernel_writes_cores_here, make_core

PYTHON = sys.executable

# One bug, several shapes of the same source: the crash is in `handle`, called from `serve`.
# LEADING shifts every line number; the script is also copied to several directories.
BUG_ABORT = """\
{leading}import os


def handle(request):
    return os.abort()


def serve():
    handle({{"path": "/"}})


serve()
"""
# Another bug with the same signal: different function names.
BUG_OTHER_ABORT = """\
import os


def flush_cache():
    os.abort()


def shutdown():
    flush_cache()


shutdown()
"""
# A third bug: SIGSEGV from a NULL write.
BUG_SEGV = """\
import ctypes


def write_status(address):
    ctypes.memset(address, 0, 1)


def report():
    write_status(0)


report()
"""


def run_triage(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    prefix: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, PYTHON, "-m", "triage", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until(predicate: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)


def rows(db: Path | str, sql: str = "SELECT * FROM crashes ORDER BY id") -> list[dict[str, Any]]:
    """Read the database with plain sqlite3 (or plain SQL on PostgreSQL, URL DB): the tests do
    not trust the code under test."""
    if isinstance(db, str):
        if db.startswith("sqlite:///"):
            return rows(Path(db[len("sqlite:///") :].split("?")[0]), sql)
        return _postgres_rows(db, sql)
    if not db.exists():
        return []
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql)]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        connection.close()


def _postgres_rows(url: str, sql: str) -> list[dict[str, Any]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ProgrammingError
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            found = [dict(row._mapping) for row in connection.execute(text(sql))]
    except ProgrammingError:  # not created yet
        return []
    finally:
        engine.dispose()
    # JSON columns as SQLite gives them (text): the same assertions hold on both backends.
    return [
        {key: json.dumps(value) if isinstance(value, (dict, list)) else value
         for key, value in row.items()}
        for row in found
    ]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database of one test, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'triage.db'}"
    return str(request.getfixturevalue("pg_url"))


def settled(db: Path | str, expected: int) -> list[dict[str, Any]] | None:
    """All EXPECTED crashes, once none is pending or analyzing any more."""
    crashes = rows(db)
    if len(crashes) >= expected and all(c["status"] in ("done", "failed") for c in crashes):
        return crashes
    return None


class Watcher:
    """`triage watch` as a subprocess, with its log in a file."""

    def __init__(
        self,
        workdir: Path,
        spool: Path,
        *extra: str,
        env: dict[str, str] | None = None,
        url_query: str = "",
        db_url: str | None = None,
    ):
        self.workdir = workdir
        self.log = workdir / f"watch-{time.monotonic_ns()}.log"
        self.db: Path | str = db_url or workdir / "triage.db"
        url = db_url or f"sqlite:///{self.db}{url_query}"
        self.args = ["watch", str(spool), "--db", url, "--settle", "0.5"]
        self.args += ["--rescan", "2", "--workers", "2", *extra]
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.prefix: tuple[str, ...] = ()

    def start(self) -> Watcher:
        stream = open(self.log, "wb")
        self.process = subprocess.Popen(
            [*self.prefix, PYTHON, "-m", "triage", *self.args],
            cwd=self.workdir,
            env=self.env,
            stdout=stream,
            stderr=subprocess.STDOUT,
        )
        stream.close()
        wait_until(lambda: "watching" in self.text() or self.process.poll() is not None, 60)
        assert self.process.poll() is None, self.text()
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=30)


@pytest.fixture
def watcher(tmp_path: Path, db_url: str) -> Iterator[Callable[..., Watcher]]:
    """Starts watchers on the test's database (each backend); ``url_query`` means SQLite."""
    started: list[Watcher] = []

    def start(spool: Path, *extra: str, **kwargs: Any) -> Watcher:
        prefix = kwargs.pop("prefix", ())
        if "url_query" not in kwargs and not db_url.startswith("sqlite"):
            kwargs["db_url"] = db_url
        instance = Watcher(tmp_path, spool, *extra, **kwargs)
        instance.prefix = prefix
        started.append(instance.start())
        return instance

    yield start
    for instance in started:
        if instance.process is not None and instance.process.poll() is None:
            instance.process.kill()
            instance.process.wait()


@pytest.fixture(scope="session")
def cores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Real cores, made once: {bug name: [core paths]} (each a distinct pid, path or line)."""
    base = tmp_path_factory.mktemp("cores")
    made: dict[str, list[Path]] = {"abort": [], "other_abort": [], "segv": []}
    plans = [
        ("abort", "release-1", BUG_ABORT.format(leading="")),
        ("abort", "release-2", BUG_ABORT.format(leading="\n\n# a comment moves every line\n")),
        ("abort", "release-1", BUG_ABORT.format(leading="")),  # same file, another pid
        ("abort", "nested/srv/release-3", BUG_ABORT.format(leading="\n")),
        ("other_abort", "release-1", BUG_OTHER_ABORT),
        ("other_abort", "release-2", BUG_OTHER_ABORT),
        ("segv", "release-1", BUG_SEGV),
        ("segv", "release-2", BUG_SEGV),
    ]
    for index, (bug, directory, source) in enumerate(plans):
        workdir = base / f"run-{index}" / directory
        workdir.mkdir(parents=True)
        script = workdir / "app.py"
        script.write_text(source)
        core = make_core([PYTHON, "-E", str(script)], str(workdir))
        final = base / f"{bug}-{index}.core"
        os.replace(core, final)
        made[bug].append(final)
    return made


@pytest.fixture(scope="session")
def sleep_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A core of a process that is not Python (`sleep`, killed with SIGSEGV)."""
    workdir = tmp_path_factory.mktemp("sleep")
    if kernel_writes_cores_here():
        import resource

        def allow() -> None:
            hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))

        process = subprocess.Popen(["sleep", "60"], cwd=workdir, preexec_fn=allow)
        time.sleep(0.2)
        process.send_signal(signal.SIGSEGV)
        process.wait()
        found = sorted(workdir.glob("core*"))
        if found:
            return found[0]
    process = subprocess.Popen(["sleep", "60"], cwd=workdir)
    try:
        subprocess.run(
            ["gcore", "-o", str(workdir / "core"), str(process.pid)],
            check=True,
            capture_output=True,
        )
    finally:
        process.kill()
        process.wait()
    return workdir / f"core.{process.pid}"


def copy_core(source: Path, target: Path, sidecar: dict[str, Any] | None = None) -> Path:
    """Drop a core the way a collector that writes in place does (sidecar first)."""
    if sidecar is not None:
        target.with_name(target.name + ".json").write_text(json.dumps(sidecar))
    shutil.copyfile(source, target)
    return target
