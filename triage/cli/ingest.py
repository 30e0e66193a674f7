"""``triage ingest CORE...``: record cores, analyze everything pending, group, report."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..errors import EXIT_ANALYSIS_FAILED, EXIT_INPUT, EXIT_OK, UsageError
from ..spool import coredump
from . import options


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "ingest",
        parents=[common],
        help="analyze core files into the crash database, once",
        description="Record core files, analyze every pending crash in isolated worker "
        "processes, group them by signature and update the report.",
    )
    parser.set_defaults(run=run)
    parser.add_argument("cores", nargs="*", metavar="CORE", help="core files")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="queue failed crashes again (those of the CORE arguments, or all) and analyze them",
    )
    options.add_db(parser)
    options.add_host(parser)
    options.add_reports(parser)
    options.add_analysis_limits(parser)
    coredump.add_option(parser, "ingest")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the crashes recorded, as `crashes --json` does, instead of one line each",
    )


def run(args: argparse.Namespace) -> int:
    from ..signature import load_config
    from ..spool.pool import WorkerPool

    if args.systemd_coredump:
        found = coredump.cores(args.systemd_coredump)
        if not found and not args.cores and not args.retry_failed:
            print(f"triage: no cores in {args.systemd_coredump}", file=sys.stderr)
            return EXIT_OK
        args.cores = [*args.cores, *found]
    if not args.cores and not args.retry_failed:
        raise UsageError("give at least one CORE, or --retry-failed")
    config = load_config(args.signature_config)
    feed = _Feed([] if args.retry_failed else args.cores, options.host_name(args))
    # The hashing thread and the workers start first: they load on the other CPUs while this
    # process imports SQLAlchemy and opens the database (a good part of a second).
    feed.start()
    workers = args.workers or os.cpu_count() or 1
    if not args.retry_failed:  # no more workers than cores (they take on a backlog too)
        workers = min(workers, feed.total)
    pool = WorkerPool(
        workers, args.time_limit, args.memory_limit, args.lib_search_root, config=config
    )
    with pool:
        failed = _ingest(args, pool, config, feed)
    if feed.missing:
        return EXIT_INPUT
    return EXIT_ANALYSIS_FAILED if failed else EXIT_OK


def _ingest(args: argparse.Namespace, pool: Any, config: Any, feed: _Feed) -> int:
    """Record, analyze and summarize; returns how many of the cores failed."""
    from ..store import open_store
    from ..store.queue import retry_failed

    store = open_store(args.db)
    feed.store = store
    try:
        if args.retry_failed:
            paths = [os.path.abspath(core) for core in args.cores] or None
            print(f"queued {retry_failed(store, paths)} failed crash(es) again", file=sys.stderr)
        _analyze(store, pool, config, args, feed)
        ids = feed.ids
        if args.retry_failed and args.cores:
            ids = _ids_of(store, [os.path.abspath(core) for core in args.cores])
        return _summarize(store, ids, args.json)
    finally:
        store.close()


class _Feed:
    """Records the CORE arguments a batch at a time, between the pool's turns.

    The content hashes of the next cores (reading all of each: most of the intake's time) are
    computed in a thread while earlier ones are recorded and the pool is served (hashlib and
    reads release the GIL). A call records, in one transaction, the hashed cores at the head
    of the line once there is a whole batch of them, or as many as the workers could start at
    once: batches stay large (a transaction costs more than its rows) without leaving workers
    idle. A hash is used only if the file is still the one that was hashed (same device,
    inode, size and mtime); otherwise the file is examined again.
    """

    BATCH = 32  # cores recorded per transaction at most
    AHEAD = 2 * BATCH  # cores hashed ahead at most: the next batch is hashed while one waits

    def __init__(self, cores: list[str], host: str) -> None:
        self.store: Any = None  # set once the database is open, before the first call
        self.host = host
        self.waiting = deque(cores)  # not handed to the hashing thread yet
        self.ahead: deque[str] = deque()  # handed to it (or not regular files), in order
        # Path -> the identity of the file hashed and the hash under way.
        self.hashes: dict[str, tuple[tuple[int, int, int, int], Future[Any]]] = {}
        self.hashed: set[str] = set()  # every path handed to the hashing thread
        self.total = len(cores)
        self.ids: list[int] = []
        self.missing = 0
        self.executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start hashing the first cores (no database needed for that)."""
        self._hash_ahead()

    def __call__(self, need: int = 1) -> tuple[bool, int]:
        """Record the next hashed cores: a whole batch, or (NEED > 0) as soon as NEED are ready.
        Returns whether any core is left, and how many were recorded."""
        self._hash_ahead()
        ahead = len(self.ahead)
        ready = 0
        while ready < min(self.BATCH, ahead) and self._ready(self.ahead[ready]):
            ready += 1
        if ready and ready >= min(self.BATCH, ahead, need or self.BATCH):
            self._record([self.ahead.popleft() for _ in range(ready)])
        else:
            ready = 0
        more = bool(self.ahead or self.waiting)
        if not more and self.executor is not None:
            self.executor.shutdown(wait=False)
            self.executor = None
        return more, ready

    def _record(self, batch: list[str]) -> None:
        from ..spool.intake import ingest_files

        present = []
        for core in batch:
            if os.path.lexists(core):
                present.append(core)
            else:
                print(f"triage: error: {core}: no such file", file=sys.stderr)
                self.missing += 1
        if present:
            intakes = ingest_files(self.store, present, host=self.host, examine_file=self._examined)
            self.ids.extend(i.crash_id for i in intakes if i.crash_id is not None)
        for core in batch:
            self.hashes.pop(os.path.abspath(core), None)

    def _ready(self, core: str) -> bool:
        """Hashed, or never to be (not a regular file: examined at once, cheaply)."""
        entry = self.hashes.get(os.path.abspath(core))
        return entry is None or entry[1].done()

    def _hash_ahead(self) -> None:
        """Start hashing the next cores (regular files), up to AHEAD of the line's head."""
        from ..spool.examine import examine, identity_key

        while self.waiting and len(self.ahead) < self.AHEAD:
            core = self.waiting.popleft()
            self.ahead.append(core)
            path = os.path.abspath(core)
            try:
                info = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode) or path in self.hashed:
                continue  # a path given twice is known by then: no need to read it again
            self.hashed.add(path)
            if self.executor is None:
                self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-hash")
            future = self.executor.submit(examine, path, info, True)
            self.hashes[path] = (identity_key(info), future)

    def _examined(self, path: str, info: os.stat_result, follow: bool) -> Any:
        from ..spool.examine import examine, identity_key

        entry = self.hashes.pop(path, None)
        if entry is not None and follow and entry[0] == identity_key(info):
            return entry[1].result()
        return examine(path, info, follow)


def _analyze(store: Any, pool: Any, config: Any, args: argparse.Namespace, feed: _Feed) -> None:
    from sqlalchemy import func, select

    from ..spool.events import Log, TextLog, quiet
    from ..spool.pipeline import Pipeline
    from ..store import PENDING, Crash

    with store.session() as session:
        pending = session.scalar(select(func.count()).where(Crash.status == PENDING)) or 0
    expected = pending + feed.total  # at most: some may be known or not cores
    progress = _Progress(expected) if sys.stderr.isatty() and expected > 1 else None
    # One stream per purpose: the results are the summary on stdout; progress (a terminal) or,
    # with -v, what happens to each core, on stderr.
    log: Log = TextLog() if args.verbose and not progress else quiet
    pipeline = Pipeline(store, pool, config, options.reports_dir(args), log)
    pipeline.recover()
    pipeline.drain(progress.step if progress else None, feed)
    if progress:
        progress.end()
    pipeline.render_reports()


class _Progress:
    """A one-line progress bar on stderr (only on a terminal)."""

    WIDTH = 30

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.draw()

    def step(self) -> None:
        self.done += 1
        self.draw()

    def draw(self) -> None:
        filled = self.WIDTH * min(self.done, self.total) // max(1, self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        sys.stderr.write(f"\ranalyzing [{bar}] {self.done}/{self.total}")
        sys.stderr.flush()

    def end(self) -> None:
        sys.stderr.write("\n")


def _ids_of(store: Any, paths: list[str]) -> list[int]:
    from sqlalchemy import select

    from ..store import Crash

    with store.session() as session:
        return list(session.scalars(select(Crash.id).where(Crash.path.in_(paths))))


def _summarize(store: Any, ids: list[int], as_json: bool = False) -> int:
    """One line per given core on stdout (or one JSON array); returns how many failed."""
    from sqlalchemy import select

    from ..render.style import escape
    from ..store import FAILED, Crash
    from ..store.queries import WITHOUT_DOCUMENTS, crash_json
    from .table import print_json

    failed = 0
    with store.session() as session:
        query = select(Crash).where(Crash.id.in_(ids)).order_by(Crash.id)
        crashes = list(session.scalars(query.options(*WITHOUT_DOCUMENTS)))
        failed = sum(1 for crash in crashes if crash.status == FAILED)
        if as_json:
            print_json([crash_json(crash) for crash in crashes])
            return failed
        for crash in crashes:
            detail = crash.error if crash.status == FAILED else crash.signature
            group = f"group {crash.group_id}" if crash.group_id is not None else "no group"
            print(
                f"crash {crash.id} {crash.status} ({group}) {escape(crash.path)}: "
                f"{escape(detail or '')}"
            )
    return failed
