"""Which files in a spool are (candidate) cores."""

from __future__ import annotations

import os

# A writer is still at work on these (DESIGN.md: spool temporaries are never crashes); `.json`
# files are the sidecars of cores, `.new`/`.partial` the suffixes of ABRT-like collectors.
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".new", ".json", ".swp")
SIDECAR_SUFFIX = ".json"


def is_candidate(path: str) -> bool:
    """False for dotfiles (also systemd's ``.#name`` temporaries) and writers' temporaries."""
    name = os.path.basename(path)
    return bool(name) and not name.startswith(".") and not name.endswith(IGNORED_SUFFIXES)


def sidecar_of(path: str) -> str:
    return path + SIDECAR_SUFFIX


def inside(path: str, root: str) -> bool:
    """PATH (already resolved) lies within ROOT (already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
