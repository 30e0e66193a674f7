"""A pool of worker processes, each analyzing one core at a time under time and memory limits.

Workers are long-lived (start-up is paid once, not per core) and separate processes (started
fresh with ``python -m``, not forked from a multi-threaded watcher). A worker that exceeds the
time limit is killed; one that dies is noticed by its closed pipe. Either way its core gets a
failed result with the reason, a new worker takes its place, and the others carry on.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..model import signal_name
from .limits import DEFAULT_MEMORY_LIMIT_MB, DEFAULT_TIME_LIMIT

READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class Job:
    crash_id: int
    path: str
    context: dict[str, Any] | None = None  # the crash's context: what CHECKED_KEYS hold


# What the worker checks before it opens a core: the identity recorded at intake (a file
# swapped for another, or for a link, since is refused) and a name's raw bytes.
CHECKED_KEYS = ("_identity", "_path_bytes")


@dataclass(frozen=True)
class Result:
    crash_id: int
    analysis: dict[str, Any] | None
    error: str | None


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    job: Job | None = None
    deadline: float = 0.0
    buffer: bytearray = field(default_factory=bytearray)


class WorkerPool:
    def __init__(
        self,
        size: int,
        time_limit: float = DEFAULT_TIME_LIMIT,
        memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
        lib_search_root: str | None = None,
    ) -> None:
        self.size = max(1, size)
        self.time_limit = time_limit
        self.memory_limit = memory_limit_mb << 20 if memory_limit_mb else None
        self.lib_search_root = os.path.abspath(lib_search_root) if lib_search_root else None
        self.selector = selectors.DefaultSelector()
        self.workers: list[_Worker] = []

    def __enter__(self) -> WorkerPool:
        self.workers = [self._spawn() for _ in range(self.size)]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        process = subprocess.Popen(
            [sys.executable, "-m", "triage.spool.worker", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd="/",  # never import a `triage` directory from the watcher's cwd
            start_new_session=True,  # a Ctrl-C for the watcher must not kill jobs mid-way
        )
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        worker = _Worker(process)
        self.selector.register(process.stdout, selectors.EVENT_READ, worker)
        return worker

    @property
    def idle(self) -> int:
        return sum(1 for worker in self.workers if worker.job is None)

    @property
    def busy(self) -> int:
        return len(self.workers) - self.idle

    def submit(self, job: Job) -> None:
        worker = next(worker for worker in self.workers if worker.job is None)
        request = {
            "id": job.crash_id,
            "path": os.path.abspath(job.path),
            # Only what the worker checks: a sidecar's context may be large.
            "context": {k: v for k, v in (job.context or {}).items() if k in CHECKED_KEYS},
            "lib_search_root": self.lib_search_root,
            "memory_limit": self.memory_limit,
        }
        worker.job = job
        worker.deadline = time.monotonic() + self.time_limit
        assert worker.process.stdin is not None
        try:
            worker.process.stdin.write(json.dumps(request).encode() + b"\n")
            worker.process.stdin.flush()
        except BrokenPipeError:
            pass  # it died already: collect() reports it

    def collect(self, timeout: float) -> list[Result]:
        """Results that arrive within TIMEOUT seconds (sooner when any is ready)."""
        if self.busy == 0:
            time.sleep(timeout)
            return []
        nearest = min(w.deadline for w in self.workers if w.job is not None)
        wait = max(0.0, min(timeout, nearest - time.monotonic()))
        results: list[Result] = []
        for key, _ in self.selector.select(wait):
            results.extend(self._read(key.data))
        now = time.monotonic()
        for worker in list(self.workers):
            if worker.job is not None and now >= worker.deadline:
                reason = f"analysis timed out after {self.time_limit:g} s"
                results.append(self._replace(worker, reason))
        return results

    def _read(self, worker: _Worker) -> list[Result]:
        assert worker.process.stdout is not None
        try:
            chunk = os.read(worker.process.stdout.fileno(), READ_CHUNK)
        except BlockingIOError:
            return []
        if not chunk:  # the worker died
            if worker.job is not None:
                return [self._replace(worker, None)]
            self._restart(worker)
            return []
        worker.buffer.extend(chunk)
        results = []
        while b"\n" in worker.buffer:
            line, _, rest = bytes(worker.buffer).partition(b"\n")
            worker.buffer = bytearray(rest)
            reply = json.loads(line)
            if worker.job is not None and reply.get("id") == worker.job.crash_id:
                job = worker.job
                results.append(Result(job.crash_id, reply.get("analysis"), reply.get("error")))
                worker.job = None
        return results

    def _replace(self, worker: _Worker, reason: str | None) -> Result:
        """Fail the worker's job with REASON (or why it died) and start a new worker."""
        assert worker.job is not None
        job = worker.job
        if worker.process.poll() is None:
            worker.process.kill()
        code = worker.process.wait()
        if reason is None:
            reason = (
                f"the analysis crashed the worker ({signal_name(-code)})"
                if code < 0
                else f"the worker exited with status {code} during the analysis"
            )
        self._restart(worker)
        return Result(job.crash_id, None, reason)

    def _restart(self, worker: _Worker) -> None:
        self._discard(worker)
        index = self.workers.index(worker)
        self.workers[index] = self._spawn()

    def _discard(self, worker: _Worker) -> None:
        assert worker.process.stdout is not None
        self.selector.unregister(worker.process.stdout)
        for stream in (worker.process.stdin, worker.process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait()

    def in_flight(self) -> list[Job]:
        return [worker.job for worker in self.workers if worker.job is not None]

    def close(self) -> None:
        """Stop every worker; jobs still running stay `analyzing` and are resumed next start."""
        for worker in self.workers:
            self._discard(worker)
        self.workers = []
        self.selector.close()
