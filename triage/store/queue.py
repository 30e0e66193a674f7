"""The database as the work queue: add cores, claim them, record the outcome, recover.

A crash moves pending → analyzing → done | failed. Claiming is one UPDATE whose subquery takes
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has one writer at a time, so the UPDATE is
atomic there by itself): two watchers never analyze the same core.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import socket
import stat
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any

from sqlalchemy import Update, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..spool.examine import NewCrash
from . import Store
from .models import ANALYZING, FAILED, PENDING, Crash, utcnow

# A core whose analysis was interrupted this many times (the watcher itself killed each time,
# e.g. by the kernel's OOM killer) is failed instead of being retried forever.
MAX_ATTEMPTS = 3
_claims = itertools.count(1)
# Pending rows looked at per query when only some of them are readable here.
CANDIDATE_WINDOW = 256
# (path, size, mtime_ns, context) -> whether this process can analyze that file.
Usable = Callable[[str, "int | None", "int | None", "dict[str, Any] | None"], bool]
# The machine that recorded a crash, in its context: its cores are that machine's to analyze.
MACHINE_KEY = "_machine"


def worker_identity() -> str:
    """Who claims: ``host:pidns:pid:start``, unique on this machine even when pids are reused.

    The pid namespace tells whether a claim's pid can be checked from here at all (two
    containers may share a host name); the process start time (clock ticks since boot) tells a
    reused pid from the claimer itself.
    """
    pid = os.getpid()
    return f"{socket.gethostname()}:{_pid_namespace()}:{pid}:{_start_time(pid) or 0}"


def _pid_namespace() -> str:
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return "0"
    return "".join(ch for ch in link if ch.isdigit()) or "0"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            raw = stream.read()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode("ascii", "replace").split()


def _start_time(pid: int) -> int | None:
    fields = _proc_stat(pid)
    # Field 22 of stat(5); fields[0] is field 3 (the state).
    return int(fields[19]) if fields and len(fields) > 19 and fields[19].isdigit() else None


def process_gone(pid: int, start: int | None) -> bool:
    """Whether the process that made a claim is dead: no such pid, a zombie, or a new process
    under a reused pid (another start time). START None: an old claim without one."""
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):  # killed, not reaped yet: it will never record anything
        return True
    return start is not None and _start_time(pid) != start


def find_known(session: Session, path: str, size: int | None, mtime_ns: int | None) -> int | None:
    """The crash already recorded for this very file (same path, size and mtime), if any."""
    query = select(Crash.id).where(
        Crash.path == path, Crash.size == size, Crash.mtime_ns == mtime_ns
    )
    return session.scalars(query.limit(1)).first()


# (path, size, mtime_ns): what tells a file already recorded without reading it.
FileKey = tuple[str, "int | None", "int | None"]


def find_known_many(session: Session, keys: list[FileKey]) -> dict[FileKey, int]:
    """``find_known`` of many files in one query: {key: crash id} of those recorded."""
    query = (
        select(Crash.id, Crash.path, Crash.size, Crash.mtime_ns)
        .where(Crash.path.in_({path for path, _, _ in keys}))
        .order_by(Crash.id)
    )
    found: dict[FileKey, int] = {}
    for row in session.execute(query):
        found.setdefault((row.path, row.size, row.mtime_ns), row.id)
    return {key: found[key] for key in keys if key in found}


def add_crash(store: Store, new: NewCrash) -> tuple[int, bool]:
    """Record a file; returns (crash id, created). The same content twice is one crash."""
    return add_crashes(store, [new])[0]


def add_crashes(store: Store, news: list[NewCrash]) -> list[tuple[int, bool]]:
    """Record files in one transaction; returns (crash id, created) for each, in order. The
    same content twice (in the database already, or twice in NEWS) is one crash."""
    with store.session() as session:
        answers: list[tuple[int, bool] | None] = [None] * len(news)
        existing = _existing_many(session, news)
        fresh: list[tuple[int, Crash]] = []
        first: dict[tuple[str, ...], int] = {}  # content or file key -> index of its first
        for index, new in enumerate(news):
            found = next((existing[k] for k in _keys(new) if k in existing), None)
            earlier = next((first[k] for k in _keys(new) if k in first), None)
            if found is not None:
                answers[index] = (found, False)
            elif earlier is None:
                fresh.append((index, _row(new)))
                first.update({k: index for k in _keys(new)})
        if fresh:
            _insert(session, news, fresh, answers)
        for index, new in enumerate(news):  # the same content as one inserted just before
            if answers[index] is None:
                earlier = next(first[k] for k in _keys(new) if k in first)
                answer = answers[earlier]
                assert answer is not None
                answers[index] = (answer[0], False)
        return [answer for answer in answers if answer is not None]


def _keys(new: NewCrash) -> list[tuple[str, ...]]:
    """What makes a file the same crash as another: its content, or being the same file."""
    keys: list[tuple[str, ...]] = [("file", new.path, str(new.size), str(new.mtime_ns))]
    if new.sha256 is not None:
        keys.insert(0, ("sha256", new.sha256))
    return keys


def _existing_many(session: Session, news: list[NewCrash]) -> dict[tuple[str, ...], int]:
    """The crashes already recorded with the content or as the file of any of NEWS, by key."""
    found: dict[tuple[str, ...], int] = {}
    hashes = {new.sha256 for new in news if new.sha256 is not None}
    if hashes:
        query = select(Crash.id, Crash.sha256).where(Crash.sha256.in_(hashes))
        for crash_id, sha in session.execute(query):
            found[("sha256", str(sha))] = crash_id
    files = find_known_many(session, [(new.path, new.size, new.mtime_ns) for new in news])
    found.update({("file", p, str(size), str(mtime)): i for (p, size, mtime), i in files.items()})
    return found


def _insert(
    session: Session,
    news: list[NewCrash],
    fresh: list[tuple[int, Crash]],
    answers: list[tuple[int, bool] | None],
) -> None:
    """Insert the new rows together; when another watcher recorded some of the same content
    meanwhile (a unique violation), one at a time, each checked again."""
    try:
        with session.begin_nested():
            session.add_all([crash for _, crash in fresh])
            session.flush()
        for index, crash in fresh:
            answers[index] = (crash.id, True)
        return
    except IntegrityError:
        pass
    for index, _ in fresh:
        answers[index] = _add_one(session, news[index])


def _add_one(session: Session, new: NewCrash) -> tuple[int, bool]:
    existing = _existing(session, new)
    if existing is not None:
        return existing, False
    crash = _row(new)
    session.add(crash)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # another watcher recorded the same content just now
        existing = _existing(session, new)
        if existing is None:
            raise
        return existing, False
    return crash.id, True


def _existing(session: Session, new: NewCrash) -> int | None:
    if new.sha256 is not None:
        found = session.scalars(select(Crash.id).where(Crash.sha256 == new.sha256)).first()
        if found is not None:
            return found
    return find_known(session, new.path, new.size, new.mtime_ns)


def _row(new: NewCrash) -> Crash:
    failed = new.error is not None
    return Crash(
        path=new.path,
        size=new.size,
        mtime_ns=new.mtime_ns,
        sha256=new.sha256,
        status=FAILED if failed else PENDING,
        error=new.error,
        attempts=0,
        received_at=utcnow(),
        crashed_at=new.crashed_at,
        analyzed_at=utcnow() if failed else None,
        host=new.host,
        service=new.service,
        release=new.release,
        executable=new.executable,
        context={**(new.context or {}), MACHINE_KEY: this_machine()},
    )


def claim(
    store: Store,
    limit: int,
    identity: str | None = None,
    usable: Usable | None = None,
    skip: set[int] | None = None,
) -> list[tuple[int, str, dict[str, Any] | None]]:
    """Take up to LIMIT pending crashes, oldest first: [(id, path, context)], the context (what
    the worker checks) read in the same transaction.

    With USABLE, only crashes whose file this process can read (several hosts share the
    database, each with its own spools): the others stay pending for the hosts that can, and
    their ids are added to SKIP so that the next call does not look at them again.
    """
    if limit <= 0:
        return []
    token = f"{identity or worker_identity()}#{next(_claims)}"
    with store.session() as session:
        # A read first: the watcher asks every tick, and an idle queue needs no write lock.
        if usable is not None:
            wanted = _usable_pending(session, limit, usable, skip)
        elif session.scalars(select(Crash.id).where(Crash.status == PENDING).limit(1)).first():
            wanted = None
        else:
            return []
    if wanted == []:
        return []
    # A new transaction for the write: on SQLite, a read transaction that then writes fails at
    # once (no busy wait) when another watcher wrote in between.
    with store.session() as session:
        session.execute(claim_statement(limit, token, wanted))
        rows = session.execute(
            select(Crash.id, Crash.path, Crash.context)
            .where(Crash.claimed_by == token, Crash.status == ANALYZING)
            .order_by(Crash.id)
        )
        return [(row.id, row.path, row.context) for row in rows]


def _usable_pending(
    session: Session, limit: int, usable: Usable, skip: set[int] | None
) -> list[int]:
    """The ids of the oldest LIMIT pending crashes that USABLE accepts."""
    chosen: list[int] = []
    last = 0
    while len(chosen) < limit:
        window = session.execute(
            select(Crash.id, Crash.path, Crash.size, Crash.mtime_ns, Crash.context)
            .where(Crash.status == PENDING, Crash.id > last)
            .order_by(Crash.id)
            .limit(CANDIDATE_WINDOW)
        ).all()
        if not window:
            break
        for row in window:
            if skip is not None and row.id in skip:
                continue
            if usable(row.path, row.size, row.mtime_ns, row.context):
                chosen.append(row.id)
                if len(chosen) == limit:
                    break
            elif skip is not None:
                skip.add(row.id)
        last = window[-1].id
    return chosen


def claim_statement(limit: int, token: str, ids: list[int] | None = None) -> Update:
    """UPDATE the oldest LIMIT pending crashes (of IDS, if given) to analyzing, claimed by TOKEN.

    The locked selection is a materialized CTE: as a plain ``IN (subquery)``, PostgreSQL may
    scan it again for each row it updates, and each scan skips the rows just claimed and
    takes the next ones: more than LIMIT rows claimed at once.
    """
    oldest = select(Crash.id).where(Crash.status == PENDING)
    if ids is not None:
        oldest = oldest.where(Crash.id.in_(ids))
    chosen = (
        oldest.order_by(Crash.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # ignored by SQLite, whose writes are serialized
        .cte("chosen")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(Crash)
        .where(Crash.id.in_(select(chosen.c.id)), Crash.status == PENDING)
        .values(
            status=ANALYZING,
            claimed_by=token,
            claimed_at=utcnow(),
            attempts=Crash.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )


def readable_here(
    path: str, size: int | None, mtime_ns: int | None, context: dict[str, Any] | None = None
) -> bool:
    """Whether this host should analyze the file recorded as PATH.

    Recorded on this machine: when this process may read it (another watcher here may have a
    spool of its own), or when it is gone (the worker then fails it with the reason); the
    worker checks that it is still the file recorded. Recorded elsewhere: only when this host
    sees it too (a shared spool) with the same size and modification time to the nanosecond:
    hosts may have spools at the same path, and another host's namesake is not the file.
    """
    here = isinstance(context, dict) and context.get(MACHINE_KEY) == this_machine()
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return here
    except OSError:
        return False
    if not os.access(path, os.R_OK):
        return False
    if here:
        return True
    return (
        stat.S_ISREG(info.st_mode)
        and (size is None or info.st_size == size)
        and (mtime_ns is None or info.st_mtime_ns == mtime_ns)
    )


@functools.lru_cache(maxsize=1)
def this_machine() -> str:
    """The host name and a digest of systemd's machine id (containers of one image may share
    either; the id itself is meant to stay private, and contexts are shown in reports)."""
    try:
        with open("/etc/machine-id", "rb") as stream:
            machine = hashlib.sha256(stream.read().strip()).hexdigest()[:16]
    except OSError:
        machine = "-"
    return f"{socket.gethostname()}/{machine}"


def recover(
    store: Store,
    stale_after: timedelta,
    identity: str | None = None,
    usable: Usable | None = None,
    in_flight: Collection[int] = (),
) -> int:
    """Put back crashes left ``analyzing`` by a watcher that died; returns how many.

    A claim is abandoned when its process, on this machine, no longer exists, is a zombie or
    is another process under a reused pid; when it is this process's own but not IN_FLIGHT
    (the database went away between the claim and its answer); or (any host) when it is older
    than STALE_AFTER and USABLE says this host can read the core. One interrupted too often is
    failed instead.
    """
    me = identity or worker_identity()
    cutoff = utcnow() - stale_after
    released = 0
    with store.session() as session:
        rows = session.execute(
            select(
                Crash.id,
                Crash.path,
                Crash.size,
                Crash.mtime_ns,
                Crash.context,
                Crash.claimed_by,
                Crash.claimed_at,
                Crash.attempts,
            ).where(Crash.status == ANALYZING)
        ).all()
    for row in rows:
        if row.id in in_flight:
            continue
        owner = (row.claimed_by or "").split("#", 1)[0]
        if owner == me:
            abandoned = True
        elif row.claimed_at is None or row.claimed_at < cutoff:
            abandoned = usable is None or usable(row.path, row.size, row.mtime_ns, row.context)
        else:
            abandoned = _owner_gone(owner, me)
        if abandoned:
            released += _release(store, row.id, row.claimed_by, row.attempts)
    return released


def _owner_gone(owner: str, me: str) -> bool:
    """Whether OWNER (``host:pidns:pid:start``, or ``host:pid`` before) died on this machine."""
    mine = me.split(":")
    parts = owner.split(":")
    if len(parts) == 4 and parts[:2] == mine[:2] and parts[2].isdigit():
        return process_gone(int(parts[2]), int(parts[3]) if parts[3].isdigit() else None)
    if len(parts) == 2 and parts[0] == mine[0] and parts[1].isdigit():
        return process_gone(int(parts[1]), None)
    return False  # another machine or pid namespace: only the stale timeout can tell


def _release(store: Store, crash_id: int, claimed_by: str | None, attempts: int) -> int:
    values: dict[str, Any] = {"status": PENDING, "claimed_by": None}
    if attempts >= MAX_ATTEMPTS:
        values = {
            "status": FAILED,
            "error": f"analysis interrupted {attempts} times (the watcher died)",
            "analyzed_at": utcnow(),
        }
    with store.session() as session:
        # The same claim only: another watcher may have taken it back since the read.
        result = session.execute(
            update(Crash)
            .where(Crash.id == crash_id, Crash.status == ANALYZING, Crash.claimed_by == claimed_by)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def retry_failed(store: Store, paths: list[str] | None = None) -> int:
    """Queue failed crashes again (all, or those of PATHS); returns how many."""
    condition = Crash.status == FAILED
    if paths:
        condition = and_(condition, or_(*(Crash.path == path for path in paths)))
    with store.session() as session:
        result = session.execute(
            update(Crash)
            .where(condition)
            .values(status=PENDING, error=None, attempts=0, claimed_by=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
