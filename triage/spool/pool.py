"""A pool of worker processes, each analyzing one core at a time under time and memory limits.

Workers are long-lived (start-up is paid once, not per core) and separate processes (started
fresh with ``python -m``, not forked from a multi-threaded watcher). Each holds a short queue
of jobs (written ahead on its stdin), so that it starts the next core as soon as it answers
the last, without waiting for the parent to record the answer and send more: results arrive
in batches and the parent records them together.

A job's time limit runs from when its worker starts it (the answer to the job before it was
read), not from when it was queued. A worker that exceeds the time limit is killed; one that
dies is noticed by its closed pipe. Either way the job it was running gets a failed result with
the reason, a new worker takes its place with the jobs that were queued behind it (neither
lost nor run twice), and the others carry on.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..model import signal_name
from ..outcome import FAILED, Outcome, outcome_from_json
from ..signature.config import SignatureConfig, config_to_json
from .limits import DEFAULT_MEMORY_LIMIT_MB, DEFAULT_TIME_LIMIT

READ_CHUNK = 1 << 16
# Jobs per worker at most (the one it runs and those queued behind it): enough that a worker
# never waits while the parent records a batch of results, few enough that a watcher killed
# outright leaves little claimed (its own machine's next watcher takes it back at once).
QUEUE_DEPTH = 8


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
    outcome: Outcome


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    jobs: deque[Job] = field(default_factory=deque)  # the first is the one running
    deadline: float = 0.0  # the running job's
    buffer: bytearray = field(default_factory=bytearray)

    @property
    def job(self) -> Job | None:
        return self.jobs[0] if self.jobs else None


class WorkerPool:
    def __init__(
        self,
        size: int,
        time_limit: float = DEFAULT_TIME_LIMIT,
        memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
        lib_search_root: str | None = None,
        depth: int = QUEUE_DEPTH,
        config: SignatureConfig | None = None,
    ) -> None:
        self.size = max(1, size)
        # The settings the workers sign with (theirs are the bundled ones when None).
        self.setup = b"" if config is None else _line({"config": config_to_json(config)})
        self.depth = max(1, depth)
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
        assert process.stdout is not None and process.stdin is not None
        os.set_blocking(process.stdout.fileno(), False)
        worker = _Worker(process)
        if self.setup:
            self._write(worker, self.setup)
        self.selector.register(process.stdout, selectors.EVENT_READ, worker)
        return worker

    @property
    def room(self) -> int:
        """How many more jobs the workers' queues take; 0 while every worker's queue is more
        than half full (claiming a few at a time costs more than claiming several at once)."""
        if all(len(worker.jobs) > self.depth // 2 for worker in self.workers):
            return 0
        return sum(self.depth - len(worker.jobs) for worker in self.workers)

    @property
    def busy(self) -> int:
        """Jobs running or queued."""
        return sum(len(worker.jobs) for worker in self.workers)

    def submit(self, job: Job) -> None:
        worker = min(self.workers, key=lambda worker: len(worker.jobs))
        worker.jobs.append(job)
        if len(worker.jobs) == 1:
            worker.deadline = time.monotonic() + self.time_limit
        self._send(worker, job)

    def _send(self, worker: _Worker, job: Job) -> None:
        request = {
            "id": job.crash_id,
            "path": os.path.abspath(job.path),
            # Only what the worker checks: a sidecar's context may be large.
            "context": {k: v for k, v in (job.context or {}).items() if k in CHECKED_KEYS},
            "lib_search_root": self.lib_search_root,
            "memory_limit": self.memory_limit,
        }
        self._write(worker, _line(request))

    def _write(self, worker: _Worker, line: bytes) -> None:
        assert worker.process.stdin is not None
        try:
            worker.process.stdin.write(line)
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
                job = worker.jobs.popleft()
                results.append(Result(job.crash_id, outcome_from_json(reply["outcome"])))
                # The worker went on to the next job when it answered: its time starts now.
                worker.deadline = time.monotonic() + self.time_limit
        return results

    def _replace(self, worker: _Worker, reason: str | None) -> Result:
        """Fail the worker's running job with REASON (or why it died) and start a new worker
        with the jobs that were queued behind it."""
        assert worker.job is not None
        job = worker.jobs.popleft()
        queued = list(worker.jobs)
        if worker.process.poll() is None:
            worker.process.kill()
        code = worker.process.wait()
        if reason is None:
            reason = (
                f"the analysis crashed the worker ({signal_name(-code)})"
                if code < 0
                else f"the worker exited with status {code} during the analysis"
            )
        replacement = self._restart(worker)
        for queued_job in queued:
            replacement.jobs.append(queued_job)
            self._send(replacement, queued_job)
        replacement.deadline = time.monotonic() + self.time_limit
        return Result(job.crash_id, Outcome(FAILED, reason))

    def _restart(self, worker: _Worker) -> _Worker:
        self._discard(worker)
        index = self.workers.index(worker)
        self.workers[index] = self._spawn()
        return self.workers[index]

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
        """Every job given to a worker and not answered yet, running or queued."""
        return [job for worker in self.workers for job in worker.jobs]

    def close(self) -> None:
        """Stop every worker; jobs still running stay `analyzing` and are resumed next start."""
        for worker in self.workers:
            self._discard(worker)
        self.workers = []
        self.selector.close()


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"
