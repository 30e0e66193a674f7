"""A per-session cache of results that a thread pool may compute ahead of the tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """``get(key, make)`` computes ``make()`` once per key. ``prefetch`` queues it on the
    pool; a ``get`` of a key still queued takes it over at once instead of waiting its turn."""

    def __init__(self, pool: ThreadPoolExecutor | None = None) -> None:
        self._pool = pool
        self._futures: dict[Hashable, Future[V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        with self._lock:
            future = self._futures.get(key)
            inline = future is None or future.cancel()
            if inline:
                future = self._futures[key] = Future()
        assert future is not None
        if inline:
            try:
                future.set_result(make())
            except BaseException as error:  # pytest's skip/fail too: every caller sees it
                future.set_exception(error)
        return future.result()

    def prefetch(self, key: Hashable, make: Callable[[], V]) -> None:
        if self._pool is None:
            return
        with self._lock:
            if key not in self._futures:
                self._futures[key] = self._pool.submit(make)
