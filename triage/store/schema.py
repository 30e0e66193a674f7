"""The schema version, checked on every open; older databases are migrated with Alembic.

Reading the version is one SELECT: Alembic itself (slow to import) is only loaded when the
database is new or older than this release.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from ..errors import StoreError
from .engine import display_name

# The newest revision in migrations/versions; a test checks that the two agree.
HEAD = "0003"
KNOWN = ("0001", "0002", "0003")  # oldest first
MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"


def current_revision(connection: Connection) -> str | None:
    """The database's revision; None when it has no tables at all (a new database)."""
    try:
        row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    except (OperationalError, ProgrammingError):
        connection.rollback()
        if inspect(connection).get_table_names():
            raise StoreError(
                f"database {display_name(connection.engine.url)} has tables but is not a "
                "coretriage database (no schema version)"
            ) from None
        return None
    return row[0] if row else None


def ensure_schema(engine: Engine) -> None:
    """Create a new database, migrate an older one, refuse one written by a newer release."""
    with engine.connect() as connection:
        revision = current_revision(connection)
    if revision == HEAD:
        return
    if revision is not None and revision not in KNOWN:
        raise StoreError(
            f"database {display_name(engine.url)} has schema revision {revision}, newer than "
            f"this coretriage knows ({HEAD}): upgrade coretriage"
        )
    try:
        upgrade(engine)
    except (OperationalError, ProgrammingError):
        # Another process may have created or migrated it at the same moment: fine if so.
        with engine.connect() as connection:
            if current_revision(connection) != HEAD:
                raise


def upgrade(engine: Engine, target: str = HEAD) -> None:
    """Run the migrations up to TARGET in one transaction (DDL is transactional on both)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)
