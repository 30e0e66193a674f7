"""Shared fixtures for the pure-Python unit tests (hand-built analyses, no cores)."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from coretest.models import CORE_DICT

# With --import-mode=importlib pytest puts nothing on sys.path. These tests must test this
# checkout: an editable install resolves here already; a regular install elsewhere gets the
# checkout put first on sys.path, with the installed build of the extension (the analyzer's
# own lists of interpreter functions come from it).
_ROOT = Path(__file__).resolve().parents[2]


def _use_checkout() -> None:  # pragma: no cover - depends on the setup
    installed = importlib.util.find_spec("triage._native") if _SPEC is not None else None
    for name in [n for n in sys.modules if n == "triage" or n.startswith("triage.")]:
        del sys.modules[name]
    sys.path.insert(0, str(_ROOT))
    if installed is None or installed.origin is None:
        return
    if any((_ROOT / "triage").glob("_native*.so")):
        return
    spec = importlib.util.spec_from_file_location("triage._native", installed.origin)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["triage._native"] = module
    spec.loader.exec_module(module)


_SPEC = importlib.util.find_spec("triage")
if _SPEC is None or Path(_SPEC.origin or "/").resolve().parent != _ROOT / "triage":
    _use_checkout()


@pytest.fixture
def core_dict() -> dict[str, Any]:
    """A fresh copy of ``CORE_DICT`` that a test may modify."""
    return copy.deepcopy(CORE_DICT)


@pytest.fixture(autouse=True)
def _no_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's NO_COLOR must not change what the tests see.
    monkeypatch.delenv("NO_COLOR", raising=False)
