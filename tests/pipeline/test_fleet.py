"""Several hosts on one PostgreSQL database: watchers started together, killed, restarted, and
the server itself restarted under them.

Each "host" is a watcher with its own ``--host`` and its own spool. As root, each also runs in
its own group without the capabilities that bypass file permissions, with a spool only that
group can read: a core of one host is unreadable to the others, as on separate machines.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from coretest.pgserver import Cluster

from triage.spool.pool import QUEUE_DEPTH
from triage.store.schema import HEAD

from .conftest import PYTHON, rows, wait_until
from .test_watch import distinct_copy

HOSTS = ("host-a", "host-b", "host-c")
FIRST_GID = 41000  # numeric groups of the hosts, no account needed
# Root stays root (the interpreter may live under /root) but loses the DAC override.
NO_DAC = ("--bounding-set", "-dac_override,-dac_read_search")


@pytest.fixture
def fleet_dir() -> Iterator[Path]:
    """A directory every test user can enter (pytest's own temporary directory is root's)."""
    base = Path(tempfile.mkdtemp(prefix="triage-fleet-"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


class Host:
    """One `triage watch --host NAME` on its own spool, in its own group when root."""

    def __init__(self, base: Path, name: str, number: int, url: str) -> None:
        self.name = name
        self.spool = base / name
        self.spool.mkdir()
        self.gid = FIRST_GID + number if os.geteuid() == 0 else None
        self.url = url
        self.base = base
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    def fill(self, sources: list[Path], count: int) -> list[str]:
        names = []
        for number in range(count):
            target = self.spool / f"core.{number}"
            distinct_copy(sources[number % len(sources)], target, f"{self.name}#{number}")
            names.append(str(target))
        if self.gid is not None:
            for path in [self.spool, *self.spool.iterdir()]:
                os.chown(path, FIRST_GID - 1, self.gid)  # owned by nobody of the test
                os.chmod(path, 0o750 if path == self.spool else 0o640)
        return names

    def start(self, env: dict[str, str] | None = None) -> None:
        log = self.base / f"{self.name}-{len(self.logs)}.log"
        self.logs.append(log)
        prefix = []
        if self.gid is not None:
            prefix = ["setpriv", f"--regid={self.gid}", "--clear-groups", *NO_DAC]
        args = ["watch", str(self.spool), "--db", self.url, "--host", self.name]
        args += ["--settle", "0.5", "--rescan", "2", "--workers", "1", "--no-report"]
        with open(log, "wb") as stream:
            self.process = subprocess.Popen(
                [*prefix, PYTHON, "-m", "triage", *args],
                cwd=self.base,
                env=env,
                stdout=stream,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def watching(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.text()
        return self.text().count("watching") == len(self.logs)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_three_hosts_start_together_one_is_killed_and_nothing_is_lost_or_doubled(
    fleet_dir: Path, pg_url: str, cores: dict[str, list[Path]]
) -> None:
    hosts = [Host(fleet_dir, name, n, pg_url) for n, name in enumerate(HOSTS)]
    sources = cores["abort"][:2] + cores["other_abort"][:1] + cores["segv"][:1]
    per_host = 8
    paths = [path for host in hosts for path in host.fill(sources, per_host)]
    victim = hosts[1]
    # The victim's worker hangs on one core, so that it is killed in the middle of an analysis
    # (analyses take milliseconds: a kill timed from outside may land between two of them).
    stuck = f"{victim.spool}/core.{per_host // 2}"
    try:
        for host in hosts:  # all three migrate the new database at the same moment
            host.start(
                dict(os.environ, TRIAGE_WORKER_FAULT=f"hang:{stuck}") if host is victim else None
            )
        for host in hosts:
            wait_until(host.watching, 60, f"{host.name} watching")

        def victim_stuck() -> bool:
            return any(c["path"] == stuck and c["status"] == "analyzing" for c in rows(pg_url))

        wait_until(victim_stuck, 60, "the victim in the middle of an analysis")
        old = victim.process
        assert old is not None
        old.send_signal(signal.SIGKILL)
        # Not reaped: the old watcher stays a zombie while the new one starts.
        wait_until(lambda: _state(old.pid) == "Z", 10, "a zombie")
        victim.start()
        wait_until(victim.watching, 60, "the victim watching again")
        assert _state(old.pid) == "Z"
        crashes = wait_until(lambda: _all_settled(pg_url, len(paths)), 60, "every crash")
        time.sleep(1.0)  # a double analysis would show up now
        crashes = rows(pg_url)
        old.wait()
        codes = [host.stop() for host in hosts]
    finally:
        for host in hosts:
            host.kill()
    logs = "\n".join(host.text() for host in hosts)
    assert codes == [0, 0, 0], logs
    assert sorted(c["path"] for c in crashes) == sorted(paths), logs
    assert all(c["status"] == "done" for c in crashes), [c["error"] for c in crashes]
    for crash in crashes:  # the host of the spool the core came from
        assert crash["host"] == Path(crash["path"]).parent.name
    # Those the victim had claimed: the one it was analyzing and those queued behind it.
    attempts = {c["path"]: c["attempts"] for c in crashes}
    assert attempts[stuck] == 2, logs
    assert set(attempts.values()) == {1, 2}, logs
    resumed = sum(count == 2 for count in attempts.values())
    assert 1 <= resumed <= QUEUE_DEPTH
    assert f"resumed {resumed} crash(es)" in logs, logs
    assert "Traceback" not in logs, logs
    groups = rows(pg_url, "SELECT * FROM groups")
    assert len(groups) == 3 and sum(g["count"] for g in groups) == len(paths)  # counted once
    facets = rows(pg_url, "SELECT group_id, value, count FROM group_facets WHERE kind = 'host'")
    for group in groups:
        mine = {f["value"]: f["count"] for f in facets if f["group_id"] == group["id"]}
        assert set(mine) == set(HOSTS), facets
        assert sum(mine.values()) == group["count"]
    if hosts[0].gid is not None:  # nobody analyzed what it cannot read (it would have failed)
        assert "permission denied" not in logs


def test_the_server_restarting_mid_batch_loses_nothing(
    fleet_dir: Path, pg_cluster: Cluster, pg_url: str, cores: dict[str, list[Path]]
) -> None:
    host = Host(fleet_dir, "host-a", 0, pg_url)
    paths = host.fill(cores["abort"] + cores["segv"], 16)
    try:
        host.start()
        wait_until(host.watching, 60, "watching")
        wait_until(
            lambda: sum(c["status"] == "done" for c in rows(pg_url)) >= 2, 60, "2 crashes done"
        )
        pg_cluster.restart()
        crashes = wait_until(lambda: _all_settled(pg_url, len(paths)), 90, "every crash")
        time.sleep(1.0)
        crashes = rows(pg_url)
        assert host.stop() == 0
    finally:
        host.kill()
    log = host.text()
    assert sorted(c["path"] for c in crashes) == sorted(paths), log
    assert all(c["status"] == "done" for c in crashes), [c["error"] for c in crashes]
    groups = rows(pg_url, "SELECT * FROM groups")
    assert sum(g["count"] for g in groups) == len(paths), log  # nothing recorded twice
    assert "Traceback" not in log, log


def test_watchers_started_together_on_a_new_database_all_run(db_url: str, tmp_path: Path) -> None:
    """The schema is created once, by whoever takes the migration lock first."""
    opener = "import sys; from triage.store import open_store; open_store(sys.argv[1]).close()"
    processes = [
        subprocess.Popen(
            [PYTHON, "-c", opener, db_url], stderr=subprocess.PIPE, text=True, cwd=tmp_path
        )
        for _ in range(4)
    ]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, errors
    assert rows(db_url, "SELECT version_num FROM alembic_version") == [{"version_num": HEAD}]


def _all_settled(url: str, expected: int) -> list[dict[str, object]] | None:
    crashes = rows(url)
    if len(crashes) >= expected and all(c["status"] in ("done", "failed") for c in crashes):
        return crashes
    return None


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rfind(")") + 2 :].split()[0]
