"""What `watch` and `ingest` report as they work: one line per event.

For people, on stderr: a UTC timestamp, then the message, control characters from file names
escaped. With ``--json``, on stdout: one JSON object per line (``time``, ``event``, the event's
fields, ``message``), for a log shipper or a script.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Protocol, TextIO

from ..render.style import escape


class Log(Protocol):
    def __call__(self, message: str, event: str = "info", **fields: Any) -> None: ...


def timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class TextLog:
    """Timestamped lines on stderr (or STREAM)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def __call__(self, message: str, event: str = "info", **fields: Any) -> None:
        stream = self.stream or sys.stderr
        print(f"{timestamp()} triage: {escape(message)}", file=stream, flush=True)


class JsonLog:
    """One JSON object per event on stdout (or STREAM)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def __call__(self, message: str, event: str = "info", **fields: Any) -> None:
        record = {"time": timestamp(), "event": event, **fields, "message": message}
        stream = self.stream or sys.stdout
        stream.write(json.dumps(record, ensure_ascii=True, default=str) + "\n")
        stream.flush()


def quiet(message: str, event: str = "info", **fields: Any) -> None:
    """For `ingest` without a terminal: its summary on stdout says it all."""


stderr_log = TextLog()
