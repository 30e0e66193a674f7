"""Fixtures of the report tests: a real core analyzed by triage, and real SQLite databases."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reportkit import Database, make_core  # noqa: E402


@pytest.fixture(scope="session")
def real_analysis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The analysis JSON (with locals) of a real core of the service above."""
    from triage.analysis import analyze_core
    from triage.document import to_json

    core = make_core(tmp_path_factory.mktemp("core"))
    document = to_json(analyze_core(core, locals=True))
    names = [f["function"] for t in document["threads"] for f in t["frames"]]
    assert "handle_request" in names, names
    return document


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A real database on each backend: the report reads SQLite and PostgreSQL alike."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'triage.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    db = Database(url)
    try:
        yield db
    finally:
        db.close()
