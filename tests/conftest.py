"""Shared by every suite: ``coretest`` (interpreters, scenario processes, cores, tools).

With ``--import-mode=importlib`` pytest puts nothing on sys.path; the suites import their
helpers by name, so the tests folder goes first here.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from coretest.pgfixtures import pg_cluster, pg_url  # noqa: E402, F401 - fixtures for every suite


@pytest.fixture(scope="session", autouse=True)
def _outside_the_source_tree() -> Iterator[None]:
    """Every suite tests the installed package. A child started with ``python -m triage`` puts
    its working directory first on sys.path: from the repository's root it would import the
    source tree, which has no built extension unless the install is editable. Not a directory
    under pytest's base: another pytest session on the machine may rotate those away."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="coretriage-cwd-") as cwd:
        os.chdir(cwd)
        try:
            yield
        finally:
            os.chdir(previous)
