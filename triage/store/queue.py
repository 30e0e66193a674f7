"""The database as the work queue: add cores, claim them, record the outcome, recover.

A crash moves pending → analyzing → done | failed. Claiming is one UPDATE whose subquery takes
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has one writer at a time, so the UPDATE is
atomic there by itself): two watchers never analyze the same core.
"""

from __future__ import annotations

import itertools
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import Store
from .models import ANALYZING, FAILED, PENDING, Crash, utcnow

# A core whose analysis was interrupted this many times (the watcher itself killed each time,
# e.g. by the kernel's OOM killer) is failed instead of being retried forever.
MAX_ATTEMPTS = 3
_claims = itertools.count(1)


@dataclass
class NewCrash:
    """What the spool knows of a file before analysis."""

    path: str
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None
    error: str | None = None  # set: recorded as failed without analysis
    crashed_at: datetime | None = None
    host: str | None = None
    service: str | None = None
    release: str | None = None
    executable: str | None = None
    context: dict[str, Any] | None = field(default=None)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def find_known(session: Session, path: str, size: int | None, mtime_ns: int | None) -> int | None:
    """The crash already recorded for this very file (same path, size and mtime), if any."""
    query = select(Crash.id).where(
        Crash.path == path, Crash.size == size, Crash.mtime_ns == mtime_ns
    )
    return session.scalars(query.limit(1)).first()


def add_crash(store: Store, new: NewCrash) -> tuple[int, bool]:
    """Record a file; returns (crash id, created). The same content twice is one crash."""
    with store.session() as session:
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
        context=new.context,
    )


def claim(store: Store, limit: int, identity: str | None = None) -> list[tuple[int, str]]:
    """Take up to LIMIT pending crashes, oldest first: [(id, path)]."""
    if limit <= 0:
        return []
    token = f"{identity or worker_identity()}#{next(_claims)}"
    with store.session() as session:
        # A read first: the watcher asks every tick, and an idle queue needs no write lock.
        if session.scalars(select(Crash.id).where(Crash.status == PENDING).limit(1)).first():
            session.execute(claim_statement(limit, token))
    with store.session() as session:
        rows = session.execute(
            select(Crash.id, Crash.path).where(Crash.claimed_by == token, Crash.status == ANALYZING)
        )
        return [(row.id, row.path) for row in rows]


def claim_statement(limit: int, token: str) -> Update:
    """UPDATE the oldest LIMIT pending crashes to analyzing, claimed by TOKEN."""
    oldest = (
        select(Crash.id)
        .where(Crash.status == PENDING)
        .order_by(Crash.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # ignored by SQLite, whose writes are serialized
    )
    return (
        update(Crash)
        .where(Crash.id.in_(oldest.scalar_subquery()), Crash.status == PENDING)
        .values(
            status=ANALYZING,
            claimed_by=token,
            claimed_at=utcnow(),
            attempts=Crash.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )


def recover(store: Store, stale_after: timedelta, identity: str | None = None) -> int:
    """Put back crashes left ``analyzing`` by a watcher that died; returns how many.

    A claim is abandoned when it was made on this host by a process that no longer exists, or
    (any host) longer ago than STALE_AFTER. One interrupted too often is failed instead.
    """
    me = identity or worker_identity()
    host = me.rsplit(":", 1)[0]
    cutoff = utcnow() - stale_after
    released = 0
    with store.session() as session:
        rows = session.execute(
            select(Crash.id, Crash.claimed_by, Crash.claimed_at, Crash.attempts).where(
                Crash.status == ANALYZING
            )
        ).all()
        for row in rows:
            if not _abandoned(row.claimed_by, row.claimed_at, host, me, cutoff):
                continue
            values: dict[str, Any] = {"status": PENDING, "claimed_by": None}
            if row.attempts >= MAX_ATTEMPTS:
                values = {
                    "status": FAILED,
                    "error": f"analysis interrupted {row.attempts} times (the watcher died)",
                    "analyzed_at": utcnow(),
                }
            session.execute(
                update(Crash)
                .where(Crash.id == row.id, Crash.status == ANALYZING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            released += 1
    return released


def _abandoned(
    claimed_by: str | None, claimed_at: datetime | None, host: str, me: str, cutoff: datetime
) -> bool:
    if claimed_at is None or claimed_at < cutoff:
        return True
    owner = (claimed_by or "").split("#", 1)[0]
    owner_host, _, pid = owner.rpartition(":")
    if owner_host != host or owner == me or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


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
