"""Shared fixtures for the pure-Python unit tests (no compiled extension needed)."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

# With --import-mode=importlib pytest puts nothing on sys.path. These tests need no extension
# and must test this checkout: an editable install resolves here already; a bare checkout or a
# (possibly stale) regular install elsewhere gets the checkout put first on sys.path.
_ROOT = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.find_spec("triage")
if _SPEC is None or Path(_SPEC.origin or "/").resolve().parent != _ROOT / "triage":
    sys.path.insert(0, str(_ROOT))  # pragma: no cover - depends on the setup

# A result shaped exactly as triage/_native.pyi documents it: a SIGSEGV at 0x10 in thread 100.
CORE_DICT: dict[str, Any] = {
    "core": {
        "path": "/spool/core.100",
        "pid": 100,
        "ppid": 1,
        "pgrp": 100,
        "sid": 90,
        "uid": 1000,
        "gid": 1001,
        "state": "R",
        "zombie": False,
        "nice": 0,
        "fname": "python3.12",
        "psargs": "python3.12 app.py --port 80 ",
        "signal": 11,
        "si_code": 1,
        "si_errno": 0,
        "fault_address": 0x10,
        "sender_pid": None,
        "sender_uid": None,
        "execfn": "/usr/bin/python3.12",
        "tids": [100, 101],
        "compression": None,
    },
    "executable": "/usr/bin/python3.12",
    "executable_from_core": True,
    "python_version": [3, 12, 1],
    "python_error": None,
    "threads": [
        {
            "tid": 101,
            "tstate": 0x2000,
            "interpreter_id": 0,
            "gil": 0,
            "gc": 0,
            "frames": [
                {
                    "file": "/app/worker.py",
                    "function": "run",
                    "qualname": "Worker.run",
                    "line": 5,
                    "first_line": 3,
                    "is_entry": True,
                    "frame_address": 0x3000,
                    "code_address": 0x4000,
                }
            ],
            "truncated": False,
            "warnings": [],
        },
        {
            "tid": 100,
            "tstate": 0x1000,
            "interpreter_id": 0,
            "gil": 1,
            "gc": 1,
            "frames": [
                {
                    "file": "/app/server.py",
                    "function": "<module>",
                    "qualname": "<module>",
                    "line": 30,
                    "first_line": 1,
                    "is_entry": True,
                    "frame_address": 0x5000,
                    "code_address": 0x6000,
                },
                {
                    "file": "/app/server.py",
                    "function": "handle",
                    "qualname": "Server.handle",
                    "line": -1,
                    "first_line": 15,
                    "is_entry": False,
                    "frame_address": 0x7000,
                    "code_address": 0x8000,
                },
            ],
            "truncated": False,
            "warnings": [],
        },
    ],
    "missing_libraries": [],
    "warnings": [],
}


@pytest.fixture
def core_dict() -> dict[str, Any]:
    """A fresh copy of ``CORE_DICT`` that a test may modify."""
    return copy.deepcopy(CORE_DICT)


@pytest.fixture(autouse=True)
def _no_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's NO_COLOR must not change what the tests see.
    monkeypatch.delenv("NO_COLOR", raising=False)
