"""Crash pages of large databases rendered by worker processes, in slices of crash ids.

Rendering is CPU-bound Python (jinja2), so threads would not help; processes are started with
``spawn`` because the caller may have threads (a watcher), which ``fork`` does not survive well.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

PARALLEL_MIN_CRASHES = 2000  # below this, starting processes costs more than it saves
SLICES_PER_WORKER = 4  # small slices even out workers that get slower pages
MAX_WORKERS = 8


@dataclass(frozen=True)
class ParallelPlan:
    url: str = ""
    workers: int = 1
    slices: tuple[tuple[int, int], ...] = field(default=())  # (first id, last id), inclusive

    @contextmanager
    def start(
        self, out_dir: str | os.PathLike[str], no_locals: bool, source_roots: Sequence[str] = ()
    ) -> Iterator[list[Future[tuple[int, int, list[str]]]]]:
        """Submit every slice; yield their futures (none when rendering in this process)."""
        if not self.slices:
            yield []
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from .crashes import render_crash_slice

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            futures = [
                pool.submit(
                    render_crash_slice,
                    self.url,
                    os.fspath(out_dir),
                    first,
                    last,
                    no_locals,
                    tuple(source_roots),
                )
                for first, last in self.slices
            ]
            try:
                yield futures
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def plan(source: Any, crash_ids: Sequence[int], workers: int | None = None) -> ParallelPlan:
    """How to render ``crash_ids`` (sorted): in this process, or in slices by workers."""
    from sqlalchemy.orm import Session

    if workers == 1 or isinstance(source, Session) or not crash_ids:
        return ParallelPlan()  # a session's uncommitted rows are invisible to other processes
    url = getattr(source, "engine", source).url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return ParallelPlan()  # an in-memory database exists in this process only
    if workers is None:
        if len(crash_ids) < PARALLEL_MIN_CRASHES:
            return ParallelPlan()
        workers = min(os.cpu_count() or 1, MAX_WORKERS)
        if workers < 2:
            return ParallelPlan()
    count = min(len(crash_ids), workers * SLICES_PER_WORKER)
    size = -(-len(crash_ids) // count)
    chunks = [crash_ids[start : start + size] for start in range(0, len(crash_ids), size)]
    return ParallelPlan(
        url=url.render_as_string(hide_password=False),
        workers=workers,
        slices=tuple((chunk[0], chunk[-1]) for chunk in chunks),
    )
