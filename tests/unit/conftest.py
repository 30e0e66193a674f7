"""Shared fixtures for the pure-Python unit tests (hand-built analyses, no cores)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from coretest.models import CORE_DICT


@pytest.fixture
def core_dict() -> dict[str, Any]:
    """A fresh copy of ``CORE_DICT`` that a test may modify."""
    return copy.deepcopy(CORE_DICT)


@pytest.fixture(autouse=True)
def _no_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's NO_COLOR must not change what the tests see.
    monkeypatch.delenv("NO_COLOR", raising=False)
