"""The crash database (SQLAlchemy 2): models, opening with a schema check, the queue, queries.

Imported only by the commands that need it: SQLAlchemy costs a large share of a second to import,
which `triage core` must not pay.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..errors import StoreError
from .engine import database_url, display_name, make_engine, wrapped_errors
from .models import ANALYZING, DONE, FAILED, PENDING, STATUSES, Base, Crash, Group
from .schema import current_revision, ensure_schema

NOT_CREATED = "is not a crash database yet: `triage ingest` or `triage watch` creates it"


def _require_existing(url: str) -> None:
    """A SQLite file must exist before anything opens it (SQLite would create it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # make_engine reports a malformed URL
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:":
        if not path.startswith("file:") and not os.path.exists(path):
            raise StoreError(
                f"database {path} does not exist: `triage ingest` or `triage watch` creates it"
            )


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


def open_store(url: str | None = None, create: bool = True) -> Store:
    """Open (migrating when needed) the database of ``--db``/``$TRIAGE_DB``.

    Only the commands that record crashes create a database (CREATE); the others refuse one
    that does not exist, so that a mistyped path is an error rather than an empty answer.
    """
    resolved = database_url(url)
    if not create:
        _require_existing(resolved)
    engine = make_engine(resolved)
    with wrapped_errors(resolved):
        if not create:
            with engine.connect() as connection:
                if current_revision(connection) is None:
                    engine.dispose()
                    raise StoreError(f"database {display_name(resolved)} {NOT_CREATED}")
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
