"""Fixtures of the GIL-flag and subinterpreter tests: real programs on every local interpreter.

The helpers of the native suite (targets, gcore, running triage and PyStack) are shared. Every
process started is killed at the end of the session; cores are removed with the lab.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "native"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nativekit import (
    fixtures,  # noqa: E402
    interpreters,  # noqa: E402
)

reaper = fixtures.reaper  # session fixtures shared with the other nativekit suite
tools = fixtures.tools


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "interpreter" in metafunc.fixturenames:
        found = interpreters.selected()
        metafunc.parametrize("interpreter", found, ids=[i.id for i in found], scope="session")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("gillab")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
