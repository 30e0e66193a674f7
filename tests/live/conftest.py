"""Fixtures of the live-process suite: real interpreters running a target in a known state."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from livekit import Target, interpreters, start_target, stop  # noqa: E402


def _interpreter_ids() -> list[str]:
    return [i.id for i in interpreters.selected()]


@pytest.fixture(params=interpreters.selected(), ids=_interpreter_ids())
def interp(request: pytest.FixtureRequest) -> interpreters.Interpreter:
    return request.param


@pytest.fixture
def target_factory(tmp_path: Path) -> Iterator[Callable[[interpreters.Interpreter, str], Target]]:
    started: list[Target] = []

    def make(interp: interpreters.Interpreter, mode: str) -> Target:
        target = start_target(interp, mode, tmp_path)
        started.append(target)
        return target

    yield make
    for target in started:
        stop(target)
