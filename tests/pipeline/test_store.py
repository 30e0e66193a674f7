"""The database: schema versions and migrations, SQLite settings, claiming, errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, inspect, text

from triage.errors import StoreError
from triage.store import PENDING, Crash, open_store
from triage.store.engine import make_engine
from triage.store.queue import NewCrash, add_crash, claim, claim_statement
from triage.store.schema import HEAD, KNOWN, MIGRATIONS, current_revision, ensure_schema, upgrade

from .conftest import rows


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_head_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_current_head() == HEAD
    assert [s.revision for s in reversed(list(scripts.walk_revisions()))] == list(KNOWN)


def test_models_match_the_migrations(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from triage.store import Base

    engine = create_engine(db_url)
    upgrade(engine)  # built by the migrations (a new database is not: see below)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def _schema(url: str) -> dict[str, Any]:
    """Everything the database says of its tables (column order aside: migrations append)."""
    engine = create_engine(url)
    found: dict[str, Any] = {}
    inspector = inspect(engine)
    for table in inspector.get_table_names():
        columns = inspector.get_columns(table)
        found[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in columns
            ),
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
            "foreign keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(table)
            ),
        }
        with engine.connect() as connection:
            if table == "alembic_version":
                found[table]["rows"] = connection.execute(text(f"SELECT * FROM {table}")).all()
    engine.dispose()
    return found


def test_a_new_database_has_the_schema_its_migrations_build(
    db_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A new database is created from the models without Alembic; an old one is migrated to
    the same schema, indexes, defaults and version."""
    if db_url.startswith("sqlite"):
        migrated = url(tmp_path / "migrated.db")
    else:
        cluster = request.getfixturevalue("pg_cluster")
        name, migrated = cluster.new_database()
        request.addfinalizer(lambda: cluster.drop_database(name))
    engine = create_engine(migrated)
    upgrade(engine, "0001")  # as the first release left it, then migrated by the next open
    engine.dispose()
    open_store(migrated).close()
    store = open_store(db_url)  # new: created
    store.close()
    assert _schema(db_url) == _schema(migrated)


def test_creating_a_database_does_not_load_alembic(tmp_path: Path) -> None:
    script = (
        "import sys; from triage.store import open_store; "
        f"open_store({url(tmp_path / 'new.db')!r}).close(); "
        "print(any(name.split('.')[0] == 'alembic' for name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_new_database_is_created_in_wal_mode(tmp_path: Path) -> None:
    store = open_store(url(tmp_path / "new.db"))
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    store.close()
    assert version == HEAD


def test_an_older_database_is_migrated_with_its_data(db_url: str) -> None:
    engine = create_engine(db_url)
    upgrade(engine, "0001")  # as the first release left it
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO groups (hash, signature, hashed_text, rules_version, count, "
                "created_at) VALUES ('ab', 'SIGABRT | app:main', '-', '1', 1, '2024-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO crashes (path, status, attempts, received_at, host, group_id) "
                "VALUES ('/spool/core.1', 'done', 1, '2024-01-01 00:00:00', 'web-1', 1)"
            )
        )
    engine.dispose()
    store = open_store(db_url)
    with store.session() as session:
        crash = session.get(Crash, 1)
        assert crash is not None and crash.path == "/spool/core.1" and crash.context is None
        crash.service = "shop"  # a column of revision 0002
    store.close()
    assert rows(db_url, "SELECT version_num FROM alembic_version") == [{"version_num": HEAD}]
    # The breakdowns of revision 0002 are counted for the crashes that were already there.
    assert rows(db_url, "SELECT * FROM group_facets") == [
        {"group_id": 1, "kind": "host", "value": "web-1", "count": 1}
    ]


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_store(url(path)).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match=r"newer.db.*9999.*upgrade coretriage"):
        open_store(url(path))


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    with pytest.raises(StoreError, match="not a coretriage database"):
        open_store(url(path))


def test_a_database_created_by_another_process_midway_is_not_foreign(db_url: str) -> None:
    """Watchers started together: one reads no version, the other commits its new database
    before the first lists the tables. The first must find the version, not a foreign database.
    """
    engine = make_engine(db_url)
    created: list[bool] = []

    @event.listens_for(engine, "handle_error")
    def create_elsewhere(_context: object) -> None:
        if not created:  # the failed read of the version: another process creates it all now
            created.append(True)
            open_store(db_url).close()

    with engine.connect() as connection:
        assert current_revision(connection) == HEAD
    ensure_schema(engine)
    engine.dispose()
    assert created


def test_an_unopenable_database_names_itself(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no/such/dir/x.db"):
        open_store(url(tmp_path / "no/such/dir/x.db"))
    with pytest.raises(StoreError, match="not valid"):
        open_store("::not a url::")


def test_same_content_is_one_crash(db_url: str) -> None:
    store = open_store(db_url)
    first = add_crash(store, NewCrash(path="/a/core.1", sha256="ab" * 32))
    second = add_crash(store, NewCrash(path="/b/core.2", sha256="ab" * 32))
    store.close()
    assert first == (first[0], True) and second == (first[0], False)


def test_two_processes_never_claim_the_same_crash(tmp_path: Path) -> None:
    """Real concurrent claimers on one SQLite file: every crash claimed exactly once."""
    assert_exclusive_claims(url(tmp_path / "claims.db"))


def assert_exclusive_claims(db: str, crashes: int = 200, claimers: int = 3) -> None:
    """CLAIMERS processes claim from DB at once; each crash must be claimed exactly once."""
    store = open_store(db)
    for number in range(crashes):
        add_crash(store, NewCrash(path=f"/spool/core.{number}", sha256=f"{number:064x}"))
    store.close()
    claimer = textwrap.dedent(
        f"""
        import sys
        from triage.store import open_store
        from triage.store.queue import claim
        store = open_store({db!r})
        taken = []
        while True:
            batch = claim(store, 3, identity="test:" + sys.argv[1])
            if not batch:
                break
            taken += [crash_id for crash_id, _, _ in batch]
        print(" ".join(map(str, taken)))
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", claimer, str(n)], stdout=subprocess.PIPE, text=True)
        for n in range(claimers)
    ]
    claimed = [int(i) for p in processes for i in p.communicate(timeout=120)[0].split()]
    assert all(p.returncode == 0 for p in processes)
    assert sorted(claimed) == list(range(1, crashes + 1))


def test_claim_takes_the_oldest_pending_first(db_url: str) -> None:
    store = open_store(db_url)
    for number in range(3):
        add_crash(store, NewCrash(path=f"/spool/core.{number}", sha256=f"{number:064x}"))
    assert [path for _, path, _ in claim(store, 2)] == ["/spool/core.0", "/spool/core.1"]
    with store.session() as session:
        assert session.get(Crash, 3).status == PENDING  # type: ignore[union-attr]
    store.close()


def test_postgresql_claims_with_skip_locked() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    statement = claim_statement(4, "host:1#1")
    assert "FOR UPDATE SKIP LOCKED" in str(statement.compile(dialect=postgresql.dialect()))
    assert "FOR UPDATE" not in str(statement.compile(dialect=sqlite.dialect()))


def test_locked_database_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    """Another writer holds the lock longer than the busy timeout: exit 3, no traceback."""
    path = tmp_path / "locked.db"
    open_store(url(path)).close()
    core = tmp_path / "core"
    core.write_bytes(b"\x7fELF" + b"\0" * 100)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "triage",
                "ingest",
                str(core),
                "--db",
                f"{url(path)}?timeout=0.5",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 3, result.stderr
    assert "locked.db" in result.stderr and "locked" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_writer_that_lets_go_in_time_is_waited_for(tmp_path: Path) -> None:
    """Within the busy timeout, a concurrent writer only delays the command."""
    path = tmp_path / "busy.db"
    open_store(url(path)).close()
    core = tmp_path / "core"
    core.write_bytes(b"not a core at all")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    process = subprocess.Popen(
        [sys.executable, "-m", "triage", "ingest", str(core), "--db", url(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import time

        time.sleep(2.0)
    finally:
        holder.rollback()
        holder.close()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr  # the file is not a core: recorded as failed
    assert rows(path)[0]["error"].startswith("not a core file")
