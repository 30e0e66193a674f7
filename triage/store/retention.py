"""Core retention: delete the core files a group no longer needs, keep every analysis.

Per group the newest KEEP cores stay, and the first core of each release (the one that shows
when a bug appeared in it); with a disk budget, the oldest of the rest go first until the cores
still on disk fit. Nothing runs unless the user asks for it: no core is ever deleted by default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import Store
from .models import Crash, utcnow


@dataclass
class RetentionPlan:
    delete: list[tuple[int, str, int]] = field(default_factory=list)  # (crash id, path, bytes)
    kept: int = 0
    kept_bytes: int = 0

    @property
    def freed(self) -> int:
        return sum(size for _, _, size in self.delete)


def plan(store: Store, keep: int, budget: int | None = None) -> RetentionPlan:
    """Which cores would go (``keep`` newest per group, first of each release, then budget)."""
    result = RetentionPlan()
    spare: list[tuple[float, int, str, int]] = []  # deletable beyond KEEP only by the budget
    with store.session() as session:
        for crashes in _by_group(session):
            protected = _protected(crashes, keep)
            for crash_id, path, size, when, _release in crashes:
                if crash_id in protected:
                    result.kept += 1
                    result.kept_bytes += size
                else:
                    spare.append((when, crash_id, path, size))
    spare.sort()  # oldest first
    on_disk = result.kept_bytes + sum(size for *_, size in spare)
    for _when, crash_id, path, size in spare:
        if budget is not None and on_disk <= budget:
            result.kept += 1
            result.kept_bytes += size
            continue
        result.delete.append((crash_id, path, size))
        on_disk -= size
    return result


Row = tuple[int, str, int, float, "str | None"]


def _by_group(session: Session) -> Iterator[list[Row]]:
    """The crashes of each group whose core is still on disk, newest first."""
    when = func.coalesce(Crash.crashed_at, Crash.received_at)
    query = (
        select(Crash.group_id, Crash.id, Crash.path, Crash.size, when, Crash.release)
        .where(Crash.group_id.is_not(None), Crash.core_deleted_at.is_(None))
        .order_by(Crash.group_id, when.desc(), Crash.id.desc())
    )
    current: list[Row] = []
    group = None
    for group_id, crash_id, path, size, moment, release in session.execute(query):
        if group_id != group and current:
            yield current
            current = []
        group = group_id
        current.append((crash_id, path, size or 0, moment.timestamp() if moment else 0.0, release))
    if current:
        yield current


def _protected(crashes: list[Row], keep: int) -> set[int]:
    protected = {crash_id for crash_id, *_ in crashes[:keep]}
    first_of_release: dict[str, int] = {}
    for crash_id, _path, _size, _when, release in crashes:  # newest first: the last one wins
        if release:
            first_of_release[release] = crash_id
    return protected | set(first_of_release.values())


def apply(store: Store, planned: RetentionPlan) -> tuple[int, list[str]]:
    """Delete the planned cores; returns (deleted, problems). The rows stay, marked."""
    deleted, problems, done = 0, [], []
    for crash_id, path, _size in planned.delete:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # already gone: record it as deleted all the same
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
            continue
        deleted += 1
        done.append(crash_id)
    with store.session() as session:
        for start in range(0, len(done), 500):
            session.execute(
                update(Crash)
                .where(Crash.id.in_(done[start : start + 500]))
                .values(core_deleted_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    return deleted, problems
