"""How the index shows a group's sets of values: versions as versions, executables by name."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from ..store.queries import Facet
from ..versions import version_key

MAX_VERSIONS_LISTED = 3  # more distinct Python versions than this are shown as a range
MAX_EXECUTABLES = 5  # executables named on an index row; the rest are "+N"


@dataclass(frozen=True)
class Executable:
    """An executable as a row shows it: its base name, the full path on hover."""

    name: str
    path: str


@dataclass(frozen=True)
class Versions:
    """Python versions sorted as versions, compact: ``3.11, 3.12`` or ``2.7–3.13 (10)``."""

    text: str
    full: str  # every version, in order, for the hover title
    newest: str | None


def versions(facet: Facet) -> Versions:
    ordered = facet.listed  # sorted as versions by the store's rule
    full = ", ".join(ordered) + (" and unknown" if facet.unknown and ordered else "")
    if not ordered:
        return Versions("", "", None)
    if len(ordered) <= MAX_VERSIONS_LISTED:
        return Versions(", ".join(ordered), full, ordered[-1])
    return Versions(f"{ordered[0]}–{ordered[-1]} ({len(ordered)})", full, ordered[-1])


def executables(facet: Facet, limit: int = MAX_EXECUTABLES) -> tuple[Executable, ...]:
    """Base names, most frequent first; one entry per base name (its most frequent path)."""
    found: dict[str, Executable] = {}
    for path, _ in facet.values:
        name = posixpath.basename(path.rstrip("/")) or path
        found.setdefault(name, Executable(name, path))
    return tuple(found.values())[:limit]


def ranks(values: Iterable[str | None]) -> dict[str, int]:
    """Each distinct version its position in version order (1 = oldest): numbers the browser
    can sort by, where text would put 3.10 before 3.6."""
    distinct = sorted({value for value in values if value}, key=version_key)
    return {value: position for position, value in enumerate(distinct, start=1)}
