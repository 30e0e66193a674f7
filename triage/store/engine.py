"""Opening the database: the URL (``--db``, ``$TRIAGE_DB``, default), engine options, errors."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from ..errors import StoreError

DEFAULT_URL = "sqlite:///./triage.db"
# How long a writer waits for another one (SQLite's busy timeout). Long, because the watcher
# and a user's `triage resign` may legitimately overlap; ?timeout=S in the URL overrides it.
BUSY_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10


def database_url(option: str | None) -> str:
    """The URL to use: the command line, else ``$TRIAGE_DB``, else the first line of the file
    ``$TRIAGE_DB_FILE`` names, else ./triage.db."""
    if option or os.environ.get("TRIAGE_DB"):
        return option or os.environ["TRIAGE_DB"]
    path = os.environ.get("TRIAGE_DB_FILE")
    return read_url_file(path) if path else DEFAULT_URL


def read_url_file(path: str) -> str:
    """The database URL in PATH (its first line); refused when others may read the file, as it
    holds the password (a URL on the command line would be visible to every user in ps)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise StoreError(f"database URL file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"database URL file {path}: not a regular file")
        if info.st_mode & 0o077:
            raise StoreError(
                f"database URL file {path}: group or others may read it (mode "
                f"{stat.S_IMODE(info.st_mode):o}): chmod 600 it"
            )
        lines = stream.read(65536).decode("utf-8", "replace").splitlines()
    url = lines[0].strip() if lines else ""
    if not url:
        raise StoreError(f"database URL file {path}: empty")
    return url


def display_name(url: str | URL) -> str:
    """The database as named in messages: the file for SQLite, the URL without password."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return str(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """An engine for URL; SQLite files get WAL mode and a busy timeout."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"database URL {url!r} is not valid: {exc}") from None
    # A connection found dead when taken from the pool (the server restarted) is replaced
    # instead of failing the statement.
    options: dict[str, Any] = {"pool_pre_ping": True}
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and "timeout" not in parsed.query:
        options["connect_args"] = {"timeout": BUSY_TIMEOUT_SECONDS}
    elif parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # An unreachable server fails a tick in seconds, and the watcher retries with backoff.
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    try:
        engine = create_engine(parsed, **options)
    except ImportError as exc:  # the database's driver is not installed
        raise StoreError(
            f"database {display_name(parsed)}: {missing_driver(parsed, exc)}"
        ) from None
    except SQLAlchemyError as exc:
        raise StoreError(f"database {display_name(parsed)}: {exc}") from None
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


# The package extra that brings each backend's driver.
DRIVER_EXTRAS = {"postgresql": "postgresql"}


def missing_driver(url: URL, exc: ImportError) -> str:
    """Which driver is missing and how to get it, rather than a bare "No module named ..."."""
    backend = url.get_backend_name()
    extra = DRIVER_EXTRAS.get(backend)
    if extra is None:
        return f"the {backend} driver is not installed ({exc})"
    return (
        f"the {backend} driver is not installed ({exc}): "
        f"pip install 'coretriage[{extra}]' (the {extra} extra)"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (query commands, the report) never block the watcher and vice versa.
        # An in-memory database answers "memory" and that is fine.
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only a power loss may lose
        # the last commits, which the next backlog scan re-ingests.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


@contextmanager
def wrapped_errors(url: str | URL) -> Iterator[None]:
    """Turn SQLAlchemy and driver errors into a one-line ``StoreError`` naming the database."""
    try:
        yield
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(f"database {display_name(url)}: {describe(exc)}") from exc


def describe(exc: SQLAlchemyError) -> str:
    """The driver's message without SQLAlchemy's SQL echo and documentation link."""
    original = getattr(exc, "orig", None)
    message = str(original) if original is not None else str(exc).split("\n")[0]
    if isinstance(exc, OperationalError) and "locked" in message:
        return f"{message} (another writer held it longer than the busy timeout)"
    return message
