"""The throwaway PostgreSQL server of the test session, for every suite that runs on both
backends (store, queue, pipeline, report). Registered for all suites by tests/conftest.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .pgserver import Cluster, find_bindir


def ci() -> bool:
    """On CI, a PostgreSQL server that cannot be started fails the tests instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    bindir = find_bindir()
    problem = None if bindir else "no PostgreSQL server installed (initdb, pg_ctl)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        problem = "the PostgreSQL driver is not installed (pip install '.[postgresql]')"
    if problem or bindir is None:
        if ci():
            pytest.fail(f"{problem} (CI is set: PostgreSQL tests may not be skipped)")
        pytest.skip(problem or "")
    cluster = Cluster(bindir).init()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A new, empty database of its own role on the session's server."""
    name, url = pg_cluster.new_database()
    yield url
    pg_cluster.drop_database(name)
