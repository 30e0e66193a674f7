"""`triage watch`: watchdog events and scans feed the settler; settled files are ingested.

The watchdog handler only enqueues (it runs on the observer's thread); everything else runs on
the main thread: settling, intake (``intake.ingest_files``), dispatching to the worker pool and
recording results. State lives in the database, so a restart resumes where the last run was.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from ..errors import SpoolError, StoreError
from .coredump import complete_when_created
from .events import Log, stderr_log
from .intake import Intake, ingest_files
from .names import hidden, is_candidate, is_record
from .pipeline import Pipeline
from .settle import Settler

TICK_SECONDS = 0.2
# Hashing a large backlog must not hold back the analysis of what is already queued.
INTAKE_BUDGET_SECONDS = 0.5
# Settled files recorded together at most (their hashes are read in the main thread).
INTAKE_BATCH = 32
INTAKE_BATCH_BYTES = 256 << 20
RENDER_EVERY_SECONDS = 2.0
STOP_GRACE_SECONDS = 2.0  # a clean stop lets analyses this close to the end finish
# Claims of watchers that died (on this machine, or stale on any) are looked for this often.
RECOVER_EVERY_SECONDS = 15.0
# The database unreachable (server restarted, network): ticks are retried, waiting twice as
# long each time up to the maximum; analyses already finished are kept until recorded.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
_EVENTS = {"closed": "closed", "moved": "moved", "created": "created", "modified": "modified"}


@dataclass(frozen=True)
class WatchOptions:
    settle_seconds: float = 5.0
    rescan_seconds: float = 60.0


class SpoolHandler(FileSystemEventHandler):
    """Puts (path, root, event kind) on a queue; never reads a file itself.

    A file renamed or moved into the spool is complete: its writer finished before the rename.
    With full events (``make_observer``), a move from outside the watched tree arrives as a
    ``moved`` event with no source instead of a ``created`` one, so it is not taken for a file
    still being written.
    """

    def __init__(self, root: str, events: queue.Queue[tuple[str, str, str]]) -> None:
        self.root = root
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = _EVENTS.get(event.event_type)
        if kind is None or event.is_directory:
            if event.is_directory and event.event_type in ("created", "moved"):
                # A directory dropped into the spool: its files produced no events of their own.
                target = _text(getattr(event, "dest_path", "") or event.src_path)
                if target and not hidden(target, self.root):
                    self.events.put((target, self.root, "directory"))
            return
        path = _text(event.dest_path if kind == "moved" else event.src_path)
        if path and (is_candidate(path, self.root) or is_record(path, self.root)):
            if kind == "created" and complete_when_created(path):
                kind = "moved"
            self.events.put((path, self.root, kind))


def make_observer() -> BaseObserver:
    """An observer that reports moves into the spool from elsewhere as moves (inotify)."""
    try:
        return Observer(generate_full_events=True)  # type: ignore[call-arg,unused-ignore]
    except TypeError:  # not inotify: moves from elsewhere stay "created" (and settle longer)
        return Observer()


def _text(path: str | bytes) -> str:
    return os.fsdecode(path)


def scan(root: str) -> Iterator[str]:
    """Every candidate file under ROOT; symlinked directories are not entered."""
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        for name in sorted(files):
            path = os.path.join(directory, name)
            if is_candidate(path, root) or is_record(path, root):
                yield path


def check_spools(roots: Sequence[str]) -> list[str]:
    spools = []
    for root in roots:
        path = os.path.abspath(root)
        if not os.path.isdir(path):
            raise SpoolError(f"spool {root} is not a directory")
        if not os.access(path, os.R_OK | os.X_OK):
            raise SpoolError(f"spool {root} is not readable")
        spools.append(path)
    return spools


class Watcher:
    def __init__(
        self,
        roots: Sequence[str],
        pipeline: Pipeline,
        options: WatchOptions,
        log: Log = stderr_log,
        host: str | None = None,
    ) -> None:
        self.roots = check_spools(roots)
        self.host = host  # of crashes whose sidecar does not say
        self.pipeline = pipeline
        self.options = options
        self.log = log
        self.events: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self.settler = Settler(options.settle_seconds)
        self.settled: dict[str, str] = {}  # path -> root, in order (a dict: O(1) lookups)
        self.stop = threading.Event()

    def install_signal_handlers(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: self.stop.set())

    def run(self) -> None:
        observer = make_observer()
        try:
            for root in self.roots:
                observer.schedule(SpoolHandler(root, self.events), root, recursive=True)
            observer.start()
        except OSError as exc:
            raise SpoolError(f"cannot watch {', '.join(self.roots)}: {exc}") from exc
        try:
            self._loop()
        finally:
            observer.stop()
            self._shutdown()
            observer.join(timeout=5)

    def _loop(self) -> None:
        self._recover()
        self._rescan()
        last_scan = last_render = last_recover = time.monotonic()
        self.log(f"watching {', '.join(self.roots)}")
        retry = 0.0
        while not self.stop.is_set():
            try:
                if time.monotonic() - last_recover >= RECOVER_EVERY_SECONDS:
                    last_recover = time.monotonic()
                    self._recover()
                self._tick()
                if retry:
                    self.log("database reachable again")
                retry = 0.0
            except StoreError as exc:  # locked past the busy timeout, server restarted or down
                retry = min(RETRY_MAX_SECONDS, retry * 2 or RETRY_FIRST_SECONDS)
                self.log(f"warning: {exc.message}; retrying in {retry:g} s")
                # Results keep coming in meanwhile and wait in the pipeline until recorded.
                self.pipeline.keep(retry, self.stop)
            now = time.monotonic()
            if now - last_render >= RENDER_EVERY_SECONDS:
                self.pipeline.render_reports()
                last_render = now
            if now - last_scan >= self.options.rescan_seconds:
                self._rescan()  # inotify can drop events (queue overflow): never trust it alone
                last_scan = now

    def _recover(self) -> None:
        try:
            recovered = self.pipeline.recover()
        except StoreError as exc:  # the loop's next tick reports and retries
            self.log(f"warning: {exc.message}")
            return
        if recovered:
            self.log(f"resumed {recovered} crash(es) left in flight by a watcher that died")

    def _tick(self) -> None:
        self._drain_events()
        self.settled.update(self.settler.ready())
        budget = time.monotonic() + INTAKE_BUDGET_SECONDS
        while self.settled and time.monotonic() < budget:
            self._intake_batch()
        self.pipeline.dispatch()
        self.pipeline.collect(TICK_SECONDS)

    def _intake_batch(self) -> None:
        """Record settled files of one spool together (two transactions for all of them): up
        to INTAKE_BATCH files and INTAKE_BATCH_BYTES to hash, so that a turn of the loop stays
        short (results are read, and workers timed, between turns)."""
        root = next(iter(self.settled.values()))
        paths: list[str] = []
        size = 0
        for path, its_root in self.settled.items():
            if its_root != root:
                continue
            paths.append(path)
            size += _size(path)
            if len(paths) == INTAKE_BATCH or size >= INTAKE_BATCH_BYTES:
                break
        # StoreError: the paths stay settled and are tried again
        intakes = ingest_files(self.pipeline.store, paths, root, self.host)
        for path in paths:
            del self.settled[path]
        for intake in intakes:
            report_intake(self.log, intake)

    def _drain_events(self) -> None:
        while True:
            try:
                path, root, kind = self.events.get_nowait()
            except queue.Empty:
                return
            if kind == "directory":
                for found in scan(path):
                    self.settler.note(found, root, "scanned")
            else:
                self.settler.note(path, root, kind)

    def _rescan(self) -> None:
        for root in self.roots:
            for path in scan(root):
                if path not in self.settler.candidates and path not in self.settled:
                    self.settler.note(path, root, "scanned")

    def _shutdown(self) -> None:
        """Finish what is about to finish, give the rest back to the queue, stop the pool."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        try:
            while self.pipeline.pool.busy and time.monotonic() < deadline:
                self.pipeline.collect(TICK_SECONDS)
            self.pipeline.collect(0.0, flush=True)  # the last batch, however small
            self.pipeline.release_in_flight()
            self.pipeline.render_reports()
        except StoreError as exc:
            self.log(f"warning: {exc.message}")
        self.pipeline.pool.close()
        self.log("stopped")


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def report_intake(log: Log, intake: Intake) -> None:
    """Say what became of a file: queued, failed at once, or the same content as a crash
    already recorded (a duplicate is reported, never dropped without a word)."""
    path = intake.path
    if intake.outcome == "queued":
        log(f"queued {path} as crash {intake.crash_id}", "queued", crash=intake.crash_id, path=path)
    elif intake.outcome == "failed":
        log(
            f"crash {intake.crash_id} failed: {path}: {intake.error or ''}",
            "failed",
            crash=intake.crash_id,
            path=path,
            error=intake.error,
        )
    elif intake.outcome == "duplicate":
        log(
            f"{path}: the same core as crash {intake.crash_id}; not analyzed again",
            "duplicate",
            crash=intake.crash_id,
            path=path,
        )
