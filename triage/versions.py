"""Versions compared as versions (3.6 < 3.10, 2024.2 < 2024.10), never as text."""

from __future__ import annotations

import functools
import re
from typing import Any

_PART = re.compile(r"(\d+)|([^\d]+)")


@functools.lru_cache(maxsize=4096)
def version_key(text: str) -> tuple[Any, ...]:
    """A sort key for any version-like text, never raising.

    PEP 440 versions (Python versions, calendar releases such as ``2024.10``, ``1.0rc1``) sort
    as ``packaging`` orders them; anything else (a build id, ``release-7b``) after them, with
    its numbers compared as numbers.
    """
    # Imported on first use: `packaging.version` takes tens of milliseconds, which every command
    # that opens the database would pay whether it compares releases or not.
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(text))
    except InvalidVersion:
        natural = tuple(
            (1, int(number)) if number else (0, word) for number, word in _PART.findall(text)
        )
        return (1, natural)
