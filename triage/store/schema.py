"""The schema version, checked on every open; older databases are migrated with Alembic.

Reading the version is one SELECT. A new database is created from the models and stamped
with the newest revision, which is what its migrations build (a test compares the two
schemas): Alembic itself, a third of a second to import, is only loaded for a database older
than this release.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from ..errors import StoreError
from .engine import display_name

# The newest revision in migrations/versions; a test checks that the two agree.
HEAD = "0004"
KNOWN = ("0001", "0002", "0003", "0004")  # oldest first
MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key of schema migrations: any constant no other application on the
# same database uses (the bytes of "coretriage" folded into 63 bits).
ADVISORY_LOCK_KEY = int.from_bytes(b"coretriage", "big") & ((1 << 63) - 1)


def current_revision(connection: Connection) -> str | None:
    """The database's revision; None when it has no tables at all (a new database)."""
    try:
        row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    except (OperationalError, ProgrammingError):
        connection.rollback()
        tables = inspect(connection).get_table_names()
        if VERSION_TABLE in tables:
            # Another process created the database between the SELECT and the listing: its
            # migration commits every table at once, the version table with them.
            row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
            return row[0] if row else None
        if tables:
            raise StoreError(
                f"database {display_name(connection.engine.url)} has tables but is not a "
                "coretriage database (no schema version)"
            ) from None
        return None
    return row[0] if row else None


def ensure_schema(engine: Engine) -> None:
    """Create a new database, migrate an older one, refuse one written by a newer release.

    Any number of processes may do this at once (watchers of a fleet started together): the
    migration runs under a database-wide lock, and who gets it second finds the work done.
    """
    with engine.connect() as connection:
        revision = current_revision(connection)
    if revision == HEAD:
        return
    _refuse_newer(engine, revision)
    if revision is not None or not create(engine):
        upgrade(engine)


def _refuse_newer(engine: Engine, revision: str | None) -> None:
    if revision is not None and revision not in KNOWN:
        raise StoreError(
            f"database {display_name(engine.url)} has schema revision {revision}, newer than "
            f"this coretriage knows ({HEAD}): upgrade coretriage"
        )


def create(engine: Engine) -> bool:
    """Create a new database at HEAD: the models' tables and the version row, in one locked
    transaction. False when another process got there first (``upgrade`` then finds the work
    done, or finishes an older creator's work)."""
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, insert

    from .models import Base

    # Alembic's own version table, as it creates it.
    version = Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )
    with _migration_lock(engine) as connection:
        if _locked_revision(connection) is not None:
            return False
        Base.metadata.create_all(connection)
        version.create(connection)
        connection.execute(insert(version).values(version_num=HEAD))
    return True


def upgrade(engine: Engine, target: str = HEAD) -> None:
    """Migrate up to TARGET in one transaction that holds the migration lock throughout."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(engine) as connection:
        revision = _locked_revision(connection)
        if revision == target:
            return  # another process migrated it while this one waited for the lock
        _refuse_newer(engine, revision)
        config.attributes["connection"] = connection
        command.upgrade(config, target)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other migration can run beside.

    PostgreSQL: a transaction-level advisory lock (released by the commit or a dropped
    connection). SQLite: ``BEGIN EXCLUSIVE``, which waits for the busy timeout; the driver's
    own transaction handling is turned off on this connection so that the DDL runs inside it.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            with connection.begin():
                connection.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
                yield connection
            return
        if engine.dialect.name != "sqlite":
            with connection.begin():
                yield connection
            return
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.isolation_level = None
        try:
            connection.exec_driver_sql("BEGIN EXCLUSIVE")
            yield connection
            connection.exec_driver_sql("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.rollback()
            raise
        finally:
            # The changed transaction handling must not go back to the pool.
            connection.invalidate()


def _locked_revision(connection: Connection) -> str | None:
    """The revision, read without an error that would abort the locked transaction."""
    inspector = inspect(connection)
    if not inspector.has_table(VERSION_TABLE):
        if inspector.get_table_names():
            raise StoreError(
                f"database {display_name(connection.engine.url)} has tables but is not a "
                "coretriage database (no schema version)"
            )
        return None
    row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return row[0] if row else None
