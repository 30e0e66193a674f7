"""Claims on a shared queue, on SQLite and PostgreSQL: who may take a core, who takes back what.

Claims name ``host:pidns:pid:start``: a dead claimer on this machine is told from a live one by
its process (gone, a zombie, or another process under the same pid), one elsewhere only by age.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from triage.store import ANALYZING, PENDING, Crash, open_store
from triage.store.models import utcnow
from triage.store.queue import (
    MACHINE_KEY,
    NewCrash,
    add_crash,
    claim,
    process_gone,
    readable_here,
    recover,
    worker_identity,
)

STALE = timedelta(minutes=10)


def _core(tmp_path: Path, name: str) -> NewCrash:
    path = tmp_path / name
    path.write_bytes(b"\x7fELF" + name.encode())
    info = path.stat()
    return NewCrash(
        path=str(path), size=info.st_size, mtime_ns=info.st_mtime_ns, sha256=name.ljust(64, "0")
    )


def _claimed_by(db_url: str, crash_id: int, owner: str, age: timedelta = timedelta()) -> None:
    store = open_store(db_url)
    with store.session() as session:
        session.execute(
            update(Crash)
            .where(Crash.id == crash_id)
            .values(status=ANALYZING, claimed_by=f"{owner}#1", claimed_at=utcnow() - age)
        )
    store.close()


def _recorded_elsewhere(db_url: str, *crash_ids: int) -> None:
    """As if another machine had recorded these crashes (its spool, not this one's)."""
    store = open_store(db_url)
    with store.session() as session:
        session.execute(
            update(Crash)
            .where(Crash.id.in_(crash_ids))
            .values(context={MACHINE_KEY: "elsewhere/0"})
        )
    store.close()


def _status(db_url: str, crash_id: int) -> str:
    store = open_store(db_url)
    with store.session() as session:
        crash = session.get(Crash, crash_id)
        assert crash is not None
        status = crash.status
    store.close()
    return status


def _start_time(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rfind(")") + 2 :].split()[19])


def test_a_process_is_gone_when_missing_a_zombie_or_its_pid_reused() -> None:
    me = os.getpid()
    assert not process_gone(me, _start_time(me))
    assert process_gone(me, _start_time(me) + 1)  # the same pid, another process
    child = subprocess.Popen(["sleep", "60"])
    start = _start_time(child.pid)
    assert not process_gone(child.pid, start)
    child.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not process_gone(child.pid, start):  # not reaped: a zombie
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child.wait()
    assert process_gone(child.pid, start)


def test_claims_of_dead_watchers_here_are_taken_back_live_ones_are_not(
    db_url: str, tmp_path: Path
) -> None:
    store = open_store(db_url)
    ids = [add_crash(store, _core(tmp_path, f"core.{n}"))[0] for n in range(4)]
    store.close()
    host, namespace, _, _ = worker_identity().split(":")
    live = subprocess.Popen(["sleep", "60"])
    try:
        here = f"{host}:{namespace}"
        _claimed_by(db_url, ids[0], f"{here}:{live.pid}:{_start_time(live.pid)}")  # alive
        _claimed_by(db_url, ids[1], f"{here}:{live.pid}:{_start_time(live.pid) + 7}")  # reused
        _claimed_by(db_url, ids[2], f"{here}:999999999:1")  # no such process
        _claimed_by(db_url, ids[3], f"elsewhere:{namespace}:{live.pid}:1")  # another machine
        store = open_store(db_url)
        assert recover(store, STALE, usable=readable_here) == 2
        store.close()
        statuses = [_status(db_url, crash_id) for crash_id in ids]
        assert statuses == [ANALYZING, PENDING, PENDING, ANALYZING]
    finally:
        live.kill()
        live.wait()


def test_a_stale_claim_is_taken_back_only_by_a_host_that_can_read_the_core(
    db_url: str, tmp_path: Path
) -> None:
    store = open_store(db_url)
    readable = add_crash(store, _core(tmp_path, "core.here"))[0]
    missing = add_crash(store, _core(tmp_path, "core.elsewhere"))[0]
    store.close()
    _recorded_elsewhere(db_url, missing)
    (tmp_path / "core.elsewhere").unlink()  # another host's spool: not here
    for crash_id in (readable, missing):
        _claimed_by(db_url, crash_id, "elsewhere:1:42:42", age=STALE * 2)
    store = open_store(db_url)
    assert recover(store, STALE, usable=readable_here) == 1
    store.close()
    assert [_status(db_url, readable), _status(db_url, missing)] == [PENDING, ANALYZING]


def test_cores_this_host_cannot_read_stay_pending_for_the_others(
    db_url: str, tmp_path: Path
) -> None:
    store = open_store(db_url)
    foreign = add_crash(store, _core(tmp_path, "core.foreign"))[0]
    changed = add_crash(store, _core(tmp_path, "core.namesake"))[0]
    mine = add_crash(store, _core(tmp_path, "core.mine"))[0]
    shared = add_crash(store, _core(tmp_path, "core.shared"))[0]
    _recorded_elsewhere(db_url, foreign, changed, shared)
    (tmp_path / "core.foreign").unlink()
    # Another host's file under the same path: same name, other content and size.
    (tmp_path / "core.namesake").write_bytes(b"\x7fELF another host's file")
    skip: set[int] = set()
    claimed = [(i, path) for i, path, _ in claim(store, 3, usable=readable_here, skip=skip)]
    # Its own, and one another machine recorded in a spool both see (the same file).
    assert claimed == [(mine, str(tmp_path / "core.mine")), (shared, str(tmp_path / "core.shared"))]
    assert skip == {foreign, changed}
    assert claim(store, 3, usable=readable_here, skip=skip) == []
    store.close()
    assert [_status(db_url, foreign), _status(db_url, changed)] == [PENDING, PENDING]
