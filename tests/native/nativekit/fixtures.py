"""Session fixtures shared by the suites built on nativekit (native stacks, GIL flags): each
suite's conftest provides ``lab`` (its work directory) and imports these."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import Reaper
from .tools import Tools


@pytest.fixture(scope="session")
def reaper(lab: Path) -> Iterator[Reaper]:
    """Kills every process the session started, even when a test failed (before ``lab`` is
    removed: it depends on it)."""
    keeper = Reaper()
    try:
        yield keeper
    finally:
        keeper.close()


@pytest.fixture(scope="session")
def tools(lab: Path) -> Tools:
    return Tools(lab / "toolcwd")
