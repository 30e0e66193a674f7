"""Shared by every suite: ``coretest`` (interpreters, scenario processes, cores, tools).

With ``--import-mode=importlib`` pytest puts nothing on sys.path; the suites import their
helpers by name, so the tests folder goes first here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from coretest.pgfixtures import pg_cluster, pg_url  # noqa: E402, F401 - fixtures for every suite
