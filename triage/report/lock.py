"""One rendering of a report directory at a time, across processes and hosts sharing it.

Pages are written atomically one by one, but a whole rendering is many pages, and the removal
of stale ones: two at once (a watcher and `triage report`, or two hosts) could interleave into a
site that no single state of the database produced. An ``flock`` on a file in the directory
serializes them; the kernel releases it when its holder dies, so a crash never leaves it held.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import ReportError

LOCK_NAME = ".triage-render.lock"  # a dot name: never served as a page, never removed
Render = TypeVar("Render", bound=Callable[..., Any])
# Directories this process holds the lock of: render_changed falls back to render_all, and a
# second flock on a new descriptor would wait for the first forever.
_held: dict[str, int] = {}
_guard = threading.Lock()


@contextmanager
def render_lock(out_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the directory's rendering lock (waiting for another rendering to finish)."""
    key = os.path.realpath(out_dir)
    with _guard:
        if key in _held:
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    try:
        os.makedirs(out_dir, exist_ok=True)
        fd = os.open(
            os.path.join(out_dir, LOCK_NAME),
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
        )
    except OSError as exc:
        raise ReportError(f"cannot lock the report directory {out_dir}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with _guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _guard:
                del _held[key]
    finally:
        os.close(fd)  # closing releases the lock


def locked(render: Render) -> Render:
    """RENDER(source, out_dir, ...) run under the lock of OUT_DIR."""

    @functools.wraps(render)
    def run(source: Any, out_dir: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Any:
        with render_lock(out_dir):
            return render(source, out_dir, *args, **kwargs)

    return run  # type: ignore[return-value]
