"""Which files in a spool are (candidate) cores, and how their names of any bytes are stored."""

from __future__ import annotations

import os
from typing import Any

# A writer is still at work on these (spool temporaries are never crashes); `.json` files are
# the sidecars of cores, `.new`/`.partial` the suffixes of ABRT-like collectors.
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".new", ".json", ".swp")
SIDECAR_SUFFIX = ".json"
# A live analysis saved into the spool (`triage remote PID --save SPOOL`): a hang caught without
# writing a core. The file is the analysis document itself.
SNAPSHOT_SUFFIX = ".snapshot"
# Context key holding the raw bytes (hex) of a name that is not valid UTF-8: the path column
# holds a readable form with those bytes escaped, which no longer names the file.
PATH_BYTES_KEY = "_path_bytes"


def is_candidate(path: str, root: str | None = None) -> bool:
    """False for dotfiles (also systemd's ``.#name`` temporaries) and writers' temporaries.

    With ROOT, also for files under a dot directory of the spool (e.g. ``.coretriage``, where
    the collector keeps its log and state).
    """
    name = os.path.basename(path)
    if not name or name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
        return False
    return root is None or not hidden(os.path.dirname(path), root)


def hidden(directory: str, root: str) -> bool:
    """DIRECTORY is, or lies under, a dot directory of ROOT (or is outside ROOT)."""
    relative = os.path.relpath(directory, root)
    return any(part.startswith(".") for part in relative.split(os.sep) if part != ".")


def is_record(path: str, root: str | None = None) -> bool:
    """A sidecar that may stand alone: a collector's record of a crash whose core it dropped."""
    name = os.path.basename(path)
    return name.endswith(SIDECAR_SUFFIX) and is_candidate(path[: -len(SIDECAR_SUFFIX)], root)


def sidecar_of(path: str) -> str:
    return path + SIDECAR_SUFFIX


def inside(path: str, root: str) -> bool:
    """PATH (already resolved) lies within ROOT (already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def stored_path(path: str) -> str:
    """PATH as the database can hold it: bytes that are not UTF-8 become ``\\xNN``.

    Paths come from ``os.fsdecode`` (undecodable bytes as lone surrogates), which no database
    driver can encode. The same name always gives the same text, so "is this file known" works.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def path_bytes(path: str) -> str | None:
    """Hex of PATH's bytes when ``stored_path`` loses them (for the crash context), else None."""
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()
    return None


def real_path(stored: str, context: dict[str, Any] | None) -> str:
    """The file a crash row names: its raw bytes when they were kept, else the stored text."""
    raw = (context or {}).get(PATH_BYTES_KEY)
    if isinstance(raw, str):
        try:
            return os.fsdecode(bytes.fromhex(raw))
        except ValueError:
            pass
    return stored


def safe_text(text: str) -> str:
    """Any text (e.g. an error quoting a name) in a form every database accepts."""
    return text.encode("utf-8", "backslashreplace").decode().replace("\0", "\\x00")
