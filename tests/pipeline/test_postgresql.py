"""The same store on PostgreSQL (several watchers sharing one database).

Each test gets a new database of its own role on the session's throwaway server (``pg_url``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import run_triage
from .test_store import assert_exclusive_claims


@pytest.fixture
def database(pg_url: str) -> str:
    return pg_url


def test_migrations_create_what_the_models_describe(database: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from triage.store import Base, open_store

    store = open_store(database)
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    store.close()


def test_concurrent_claims_use_skip_locked(database: str) -> None:
    assert_exclusive_claims(database, crashes=300, claimers=4)


def test_ingest_and_query(database: str, tmp_path: Path, cores: dict[str, list[Path]]) -> None:
    paths = []
    for bug, found in cores.items():
        for number, core in enumerate(found):
            paths.append(str(shutil.copyfile(core, tmp_path / f"{bug}.{number}")))
    result = run_triage("ingest", *paths, "--db", database, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    groups = json.loads(run_triage("groups", "--json", "--db", database, cwd=tmp_path).stdout)
    assert [g["count"] for g in groups] == [4, 2, 2]
    shown = run_triage("show", groups[0]["hash"][:6], "--json", "--db", database, cwd=tmp_path)
    assert json.loads(shown.stdout)["stack"]["threads"]
    filtered = run_triage(
        "groups", "--json", "--since", "1h", "--python", "3", "--db", database, cwd=tmp_path
    )
    assert filtered.returncode == 0, filtered.stderr
    resign = run_triage("resign", "--db", database, cwd=tmp_path)
    assert resign.returncode == 0 and "3 group(s)" in resign.stdout, resign.stderr
