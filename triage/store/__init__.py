"""The crash database (SQLAlchemy 2): models, opening with a schema check, the queue, queries.

Imported only by the commands that need it: SQLAlchemy costs a large share of a second to import,
which `triage core` must not pay.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .engine import database_url, display_name, make_engine, wrapped_errors
from .models import ANALYZING, DONE, FAILED, PENDING, STATUSES, Base, Crash, Group
from .schema import ensure_schema


@dataclass
class Store:
    """An open database: the engine, a session factory, and its name for messages."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def name(self) -> str:
        return display_name(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success; database errors become ``StoreError``."""
        with wrapped_errors(self.url):
            with self.sessions.begin() as session:
                yield session

    @contextmanager
    def errors(self) -> Iterator[None]:
        with wrapped_errors(self.url):
            yield

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None) -> Store:
    """Open (creating or migrating when needed) the database of ``--db``/``$TRIAGE_DB``."""
    resolved = database_url(url)
    engine = make_engine(resolved)
    with wrapped_errors(resolved):
        ensure_schema(engine)
    # expire_on_commit=False: rows are read after their transaction ends (printing, reports).
    return Store(resolved, engine, sessionmaker(engine, expire_on_commit=False))


__all__ = [
    "ANALYZING",
    "DONE",
    "FAILED",
    "PENDING",
    "STATUSES",
    "Base",
    "Crash",
    "Group",
    "Store",
    "open_store",
]
