"""Plain inputs of the page builders: crash and group rows as the store holds them.

The builders never see SQLAlchemy objects: ``queries`` turns rows into these, and tests build
them from dicts. Every field that came from a core or a sidecar file is untrusted text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..document import from_json
from ..model import Analysis, signal_name
from ..scrub import REDACTED, ScrubRules, scrub, scrub_text

STATUSES = ("pending", "analyzing", "done", "failed")


@dataclass(frozen=True)
class CrashRecord:
    id: int
    status: str = "done"
    path: str = ""
    sha256: str | None = None
    host: str | None = None
    received_at: datetime | None = None
    analyzed_at: datetime | None = None
    crashed_at: datetime | None = None  # from the core or sidecar, when known
    error: str | None = None
    executable: str | None = None
    python_version: str | None = None
    signal: str | None = None  # name, "SIGSEGV"
    group_id: int | None = None
    context: tuple[tuple[str, str], ...] = ()  # sidecar fields, flattened for display
    analysis: Analysis | None = field(default=None, compare=False, repr=False)

    @property
    def when(self) -> datetime | None:
        """When it crashed if known, else when the core arrived: what trends count by."""
        return self.crashed_at or self.received_at

    def context_value(self, key: str) -> str | None:
        return next((value for name, value in self.context if name == key), None)


@dataclass(frozen=True)
class GroupRecord:
    id: int
    signature: str
    hash: str = ""
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


def crash_record(row: Mapping[str, Any]) -> CrashRecord:
    """A crash from a dict of its columns; tolerant of missing keys and of JSON as text."""
    crash_id = as_int(row.get("id"))
    if crash_id is None:
        raise ValueError(f"a crash row needs an integer id, not {row.get('id')!r}")
    status = text(row.get("status")) or "done"
    return CrashRecord(
        id=crash_id,
        status=status if status in STATUSES else "failed",
        path=text(row.get("path")) or "",
        sha256=text(row.get("sha256")),
        host=text(row.get("host")),
        received_at=to_datetime(row.get("received_at")),
        analyzed_at=to_datetime(row.get("analyzed_at")),
        crashed_at=to_datetime(row.get("crashed_at")),
        error=text(row.get("error")),
        executable=text(row.get("executable")),
        python_version=text(row.get("python_version")),
        signal=_signal(row.get("signal")),
        group_id=as_int(row.get("group_id", row.get("group"))),
        context=_context(row),
        analysis=_analysis(row.get("analysis")),
    )


def group_record(row: Mapping[str, Any]) -> GroupRecord:
    group_id = as_int(row.get("id"))
    if group_id is None:
        raise ValueError(f"a group row needs an integer id, not {row.get('id')!r}")
    return GroupRecord(
        id=group_id,
        signature=text(row.get("signature")) or "",
        hash=text(row.get("hash")) or "",
        count=as_int(row.get("count")) or 0,
        first_seen=to_datetime(row.get("first_seen")),
        last_seen=to_datetime(row.get("last_seen")),
    )


def to_datetime(value: object) -> datetime | None:
    """An aware UTC datetime; naive values (SQLite returns them) are taken to be UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, timezone.utc)
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def flatten_context(context: object) -> tuple[tuple[str, str], ...]:
    """Sidecar fields as (name, text) pairs; nested values (tags) as ``k=v`` lists or JSON."""
    if not isinstance(context, Mapping):
        return ()
    pairs = []
    rules = ScrubRules()
    for name, value in context.items():
        if value is None or str(name).startswith("_"):
            continue  # "_identity", "_machine"...: the pipeline's own bookkeeping
        shown = REDACTED if rules.sensitive(str(name)) else scrub_text(_display(value), rules)
        pairs.append((str(name), shown))
    return tuple(pairs)


def _context(row: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The sidecar: its JSON, plus the store's own service/release columns when set."""
    context = _json(row.get("context", row.get("sidecar")))
    merged = dict(context) if isinstance(context, Mapping) else {}
    for key in ("service", "release"):
        if row.get(key) is not None:
            merged.setdefault(key, row[key])
    return flatten_context(merged)


def _display(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_display(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_display(item) for item in value)
    return json.dumps(value) if isinstance(value, (bool, int, float)) else str(value)


def _signal(value: object) -> str | None:
    if isinstance(value, Mapping):  # the analysis JSON form {"number": 11, "name": "SIGSEGV"}
        value = value.get("name") or value.get("number")
    number = as_int(value)
    if number is not None:
        return signal_name(number) if number > 0 else None
    return text(value)


def _json(value: object) -> object:
    """Decode JSON stored as text (a plain Text column); anything else is returned as is."""
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _analysis(value: object) -> Analysis | None:
    """The stored analysis, scrubbed again: a database written before scrubbing existed (or
    with it turned off) must still not publish secrets."""
    document = _json(value)
    return scrub(from_json(document)) if isinstance(document, Mapping) else None


def text(value: object) -> str | None:
    """A display string for a column value: None stays None, everything else becomes str."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value
