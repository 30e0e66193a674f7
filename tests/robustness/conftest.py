"""Fixtures of the robustness suite: real cores of the selected interpreters, made once."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from coretest import interpreters  # noqa: E402
from coretest.cores import CoreCase, CoreFactory  # noqa: E402
from coretest.scenarios import CoreKey, scenario  # noqa: E402
from robustkit import SCENARIO, WORKERS, core_keys, get_core  # noqa: E402


@pytest.fixture(scope="session")
def core_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreFactory]:
    root = tmp_path_factory.mktemp("robustcores")
    factory = CoreFactory(root, WORKERS)
    factory.prefetch(core_keys())
    try:
        yield factory
    finally:
        factory.close()
        shutil.rmtree(root / "cores", ignore_errors=True)


@pytest.fixture(scope="session")
def current_core(core_factory: CoreFactory) -> CoreCase:
    current = interpreters.current()
    if current is None:
        pytest.skip("sys.executable is not a usable CPython")
    return get_core(core_factory, CoreKey(current, scenario(SCENARIO), "abort"))
