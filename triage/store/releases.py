"""Releases: which release each crash came from, first/last per group, and regressions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..versions import version_key
from .models import Group

# Sidecar keys that name the application's release, in order of preference. When a sidecar
# has none, the executable's build id (a collector records it) still tells builds apart.
RELEASE_KEYS = ("release", "version", "app_version")
BUILD_ID_KEY = "build_id"
BUILD_ID_CHARS = 12


def release_of(context: Mapping[str, Any] | None) -> str | None:
    """The release a crash's context names, else ``build-<build id>``, else None."""
    if not isinstance(context, Mapping):
        return None
    for key in (*RELEASE_KEYS, BUILD_ID_KEY):
        value = context.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
            text = str(value)[:255]
            return f"build-{text[:BUILD_ID_CHARS]}" if key == BUILD_ID_KEY else text
    return None


def later(release: str, than: str) -> bool:
    return version_key(release) > version_key(than)


def regresses(group: Group, release: str | None, seen: datetime | None) -> bool:
    """A crash of a resolved group means the fix did not hold when it comes from the release
    that had the fix or a later one; without releases, when it happened after the resolution."""
    if group.resolved_in and release:
        return not later(group.resolved_in, release)
    resolved_at = group.resolved_at
    return resolved_at is None or (seen is not None and seen > resolved_at)
