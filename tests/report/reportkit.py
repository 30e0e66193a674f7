"""Helpers of the report tests: a real core of a small service, a real SQLite database."""

from __future__ import annotations

import copy
import hashlib
import os
import resource
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

# The service that crashes: its own code calls through a "site-packages" library and the
# standard library (json) before aborting, while a second thread waits on an event.
SERVICE = """
import json, os, threading

import fakelib

ready = threading.Event()
stop = threading.Event()


def idle():
    ready.set()
    stop.wait()


def on_object(pairs):
    return handle_request(pairs, retries=3)


def handle_request(request, retries):
    secret_token = "hunter2"
    customer = "mallory"
    os.abort()


def serve(payload):
    return fakelib.call(json.loads, payload, object_hook=on_object)


worker = threading.Thread(target=idle, name="idle")
worker.start()
ready.wait()
serve('{"path": "/orders"}')
"""

FAKELIB = """
def call(function, *args, **kwargs):
    return function(*args, **kwargs)
"""

NOW = datetime(2024, 5, 20, 12, 0, tzinfo=timezone.utc)


def _unlimited_core() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def make_core(directory: Path) -> Path:
    """Run the service until it aborts; the kernel writes ``core`` or ``core.PID`` here."""
    site = directory / "venv" / "lib" / "python3" / "site-packages"
    (site / "fakelib").mkdir(parents=True)
    (site / "fakelib" / "__init__.py").write_text(textwrap.dedent(FAKELIB))
    (directory / "service.py").write_text(textwrap.dedent(SERVICE))
    env = dict(os.environ, PYTHONPATH=str(site))
    process = subprocess.run(
        [sys.executable, "service.py"],
        cwd=directory,
        env=env,
        preexec_fn=_unlimited_core,
        capture_output=True,
        timeout=60,
    )
    assert process.returncode < 0, process.stderr
    cores = sorted(directory.glob("core*"))
    if not cores:
        pytest.skip("the kernel wrote no core here (core_pattern does not write to the cwd)")
    return cores[0]


def with_native_frames(document: dict[str, Any]) -> dict[str, Any]:
    """The real document plus the native frames a --native analysis adds around the crash."""
    result = copy.deepcopy(document)
    crashed = next(t for t in result["threads"] if t["crashed"])
    native = [
        {"kind": "native", "function": "os_abort_impl", "file": "Modules/posixmodule.c",
         "line": 10520, "library": "libpython3.11.so.1.0", "address": "0x7f0000001000",
         "inlined": True},
        {"kind": "native", "function": "abort", "file": None, "line": None,
         "library": "libc.so.6", "address": "0x7f0000002000", "inlined": False},
    ]  # fmt: skip
    crashed["frames"].extend(native)
    return result


class Database:
    """A real database (SQLite or PostgreSQL) made through ``triage.store``."""

    def __init__(self, url: str) -> None:
        from triage.store import open_store

        self.url = url
        self.store = open_store(self.url)
        self._next_hash = 0

    def group(self, signature: str, **fields: Any) -> int:
        from triage.store import Group

        values: dict[str, Any] = {
            "hash": hashlib.sha256(signature.encode()).hexdigest()[:20],
            "signature": signature,
            "hashed_text": signature,
            "rules_version": "1",
            "count": 0,
            "first_seen": NOW - timedelta(days=3),
            "last_seen": NOW,
        }
        values.update(fields)
        with self.store.session() as session:
            group = Group(**values)
            session.add(group)
            session.flush()
            return group.id

    def crash(self, group_id: int | None, analysis: dict[str, Any] | None, **fields: Any) -> int:
        from triage.store import Crash

        self._next_hash += 1
        process = (analysis or {}).get("process") or {}
        values: dict[str, Any] = {
            "sha256": hashlib.sha256(str(self._next_hash).encode()).hexdigest(),
            "path": f"/spool/core.{self._next_hash}",
            "status": "done" if analysis else "pending",
            "received_at": NOW - timedelta(hours=self._next_hash),
            "analyzed_at": NOW - timedelta(hours=self._next_hash) if analysis else None,
            "host": "web-1",
            "executable": (analysis or {}).get("source", {}).get("executable"),
            "python_version": process.get("python_version"),
            "signal": (process.get("signal") or {}).get("name"),
            "analysis": analysis,
            "group_id": group_id,
            "service": "orders",
            "release": "2024.05.1",
            "context": {"host": "web-1", "service": "orders", "release": "2024.05.1",
                        "tags": {"env": "prod"}},
        }  # fmt: skip
        if analysis is not None:  # as the store ranks a recorded crash
            from triage.document import from_json
            from triage.stack import informativeness

            values["quality"] = informativeness(from_json(analysis))
        values.update(fields)
        with self.store.session() as session:
            crash = Crash(**values)
            session.add(crash)
            session.flush()
            crash_id = crash.id
            if group_id is not None:
                self._count(session, group_id, crash)
        return crash_id

    def _count(self, session: Any, group_id: int, crash: Any) -> None:
        """As the store counts a crash into its group: the count and the breakdowns."""
        from triage.store import Group
        from triage.store.batch import count_facets
        from triage.store.models import FACET_KINDS

        group = session.get(Group, group_id)
        assert group is not None
        group.count += 1
        columns = {kind: getattr(crash, kind) for kind in FACET_KINDS}
        count_facets(session, {group_id: [{**columns, "_host": crash.host}]})

    def close(self) -> None:
        self.store.close()


class Page(HTMLParser):
    """A rendered page as elements: what a browser would build from it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self.text_parts: list[str] = []
        self._in_script = False
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        elif not self._in_style:
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [dict(attrs) for tag, attrs in self.elements if tag == name]


# Elements that load or run something; none of our pages has any.
ACTIVE_TAGS = {"img", "iframe", "object", "embed", "base", "form", "link", "frame", "svg:script"}


def active_markup(html: str, own_script: str) -> list[str]:
    """Everything in a page that could run or load code, except the report's own script."""
    page = Page(html)
    found = [f"script: {body[:60]!r}" for body in page.scripts if body != own_script]
    if len(page.scripts) != 1:
        found.append(f"{len(page.scripts)} script elements")
    for tag, attrs in page.elements:
        if tag in ACTIVE_TAGS:
            found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "xlink:href") and value:
                if value.strip().lower().startswith(("javascript:", "data:", "vbscript:")):
                    found.append(f"<{tag} {name}={value[:40]!r}>")
    return found
