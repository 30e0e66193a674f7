"""Fixtures of the integration suite: real cores of real interpreters, made during the run.

Parametrization is driven by fixture names:

* ``core_key``: every interpreter x scenario x mode (abort, segv, gcore);
* ``crash_key``: the same with the kernel crash modes only (abort, segv);
* ``oracle_key``: the scenarios on which PyStack 1.7.2 is a trustworthy oracle, every mode.

``core_case`` / ``crash_case`` / ``oracle_case`` give the matching ``CoreCase``. Environment:
``TRIAGE_TEST_PYTHONS`` narrows the interpreters (ids such as ``py3.12.1``, or ``current``),
``TRIAGE_TEST_KEEP_CORES=1`` keeps the cores after the session.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from coretest import interpreters  # noqa: E402
from coretest.cores import CoreCase, CoreFactory, GcoreMissing  # noqa: E402
from coretest.scenarios import KERNEL_MODES, CoreKey, matrix  # noqa: E402
from coretest.tools import Tools  # noqa: E402

KEEP_ENV = "TRIAGE_TEST_KEEP_CORES"
_KEY_FIXTURES = ("core_key", "crash_key", "oracle_key")
_prefetch_keys = pytest.StashKey[list[CoreKey]]()


def _keys_for(name: str) -> list[CoreKey]:
    selected = interpreters.selected()
    if name == "crash_key":
        return matrix(selected, modes=KERNEL_MODES)
    if name == "oracle_key":
        return matrix(selected, oracle_only=True)
    return matrix(selected)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name in _KEY_FIXTURES:
        if name in metafunc.fixturenames:
            keys = _keys_for(name)
            metafunc.parametrize(name, keys, ids=[key.id for key in keys])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember, in test order, which cores the selected tests will ask for."""
    keys: dict[CoreKey, None] = {}
    for item in items:
        params = getattr(item, "callspec", None)
        for name in _KEY_FIXTURES:
            if params is not None and name in params.params:
                keys[params.params[name]] = None
    config.stash[_prefetch_keys] = list(keys)


@pytest.fixture(scope="session")
def core_factory(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[CoreFactory]:
    root = tmp_path_factory.mktemp("corelab")
    workers = max(1, min(2, (os.cpu_count() or 1)))
    factory = CoreFactory(root, workers)
    factory.prefetch(pytestconfig.stash.get(_prefetch_keys, []))
    try:
        yield factory
    finally:
        factory.close()
        if not os.environ.get(KEEP_ENV):
            shutil.rmtree(root / "cores", ignore_errors=True)


def _case(factory: CoreFactory, key: CoreKey) -> CoreCase:
    try:
        return factory.get(key)
    except GcoreMissing as error:
        pytest.skip(str(error))


@pytest.fixture
def core_case(core_factory: CoreFactory, core_key: CoreKey) -> CoreCase:
    return _case(core_factory, core_key)


@pytest.fixture
def crash_case(core_factory: CoreFactory, crash_key: CoreKey) -> CoreCase:
    case = _case(core_factory, crash_key)
    if not case.kernel:
        pytest.skip("the kernel wrote no core here; this case fell back to gcore")
    return case


@pytest.fixture
def oracle_case(core_factory: CoreFactory, oracle_key: CoreKey) -> CoreCase:
    return _case(core_factory, oracle_key)


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    """Runs triage/pystack from an empty directory, never from the source tree."""
    return Tools(tmp_path_factory.mktemp("toolcwd"))


@pytest.fixture(scope="session")
def current_interpreter() -> interpreters.Interpreter:
    interpreter = interpreters.current()
    if interpreter is None:
        pytest.skip("sys.executable is not a usable CPython")
    return interpreter
