"""The queue loop shared by `ingest` and `watch`: claim pending crashes, analyze, record, group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from ..outcome import DONE, Outcome
from ..signature import SignatureConfig
from ..store import ANALYZING, PENDING, Crash, Store
from ..store.batch import Recorded, record_outcomes
from ..store.queue import claim, readable_here, recover, worker_identity
from .events import Log, stderr_log
from .pool import Job, Result, WorkerPool

# Pending cores another host's spool holds are not looked at again for this long (a shared
# spool may show a file later than the database does).
FOREIGN_RETRY_SECONDS = 30.0
# How often `drain` looks at the files being hashed for intake.
FEED_TICK = 0.01
# How often a starved pipeline looks for crashes it did not record itself.
STARVED_RECHECK = 0.5
# Results are recorded in batches: a transaction costs the writer more than the rows in it.
# A batch is recorded once it has RECORD_AFTER results or its first has waited RECORD_DELAY
# seconds (or when told to flush); never more than RECORD_BATCH at once (after the database
# was away for a while).
RECORD_AFTER = 32
RECORD_DELAY = 0.25
RECORD_BATCH = 64


class Pipeline:
    def __init__(
        self,
        store: Store,
        pool: WorkerPool,
        config: SignatureConfig,
        reports: str | None = None,
        log: Log = stderr_log,
    ) -> None:
        self.store = store
        self.pool = pool
        self.config = config
        self.reports = reports
        self.log = log
        self.identity = worker_identity()
        self.finished: list[int] = []  # crash ids since the last report rendering
        # Results not recorded yet (the database was locked): retried on the next collect, so
        # that a busy database delays results but never loses them.
        self.unrecorded: list[Result] = []
        self.unrecorded_since = 0.0  # when the oldest of them arrived
        # The last claim found fewer pending crashes than the workers had room for.
        self.starved = True
        self.claimed_at = 0.0  # when the last claim was tried
        self.foreign: set[int] = set()  # pending crashes whose core this host cannot read
        self.foreign_since = time.monotonic()

    def recover(self) -> int:
        """Put back the work dead watchers left `analyzing` (any host's, once stale)."""
        stale = timedelta(seconds=max(600.0, 3 * self.pool.time_limit))
        mine = {job.crash_id for job in self.pool.in_flight()}
        mine.update(result.crash_id for result in self.unrecorded)
        return recover(self.store, stale, self.identity, readable_here, mine)

    def dispatch(self, added: bool = True) -> int:
        """Fill the workers' queues with pending crashes this host can read, several claimed in
        one transaction; returns how many were given out.

        ADDED False: this process recorded no crash since the last call. After a claim that
        found too few, the queue is then looked at again only every STARVED_RECHECK seconds
        (for other processes' crashes), not on every turn.
        """
        now = time.monotonic()
        if now - self.foreign_since > FOREIGN_RETRY_SECONDS:
            self.foreign.clear()
            self.foreign_since = now
        room = self.pool.room
        if room == 0 or (self.starved and not added and now - self.claimed_at < STARVED_RECHECK):
            return 0
        self.claimed_at = now
        # With each crash, what the intake recorded: identity, raw name.
        jobs = claim(self.store, room, self.identity, readable_here, self.foreign)
        for crash_id, path, context in jobs:
            self.pool.submit(Job(crash_id, path, context))
        self.starved = len(jobs) < room
        return len(jobs)

    def collect(self, timeout: float, flush: bool = False) -> list[int]:
        """Wait up to TIMEOUT for results; record those waiting when a batch is due (or, with
        FLUSH, in any case). Returns the crash ids recorded."""
        if self.unrecorded:  # no longer than the oldest may wait
            left = self.unrecorded_since + RECORD_DELAY - time.monotonic()
            timeout = min(timeout, max(0.0, left))
        self._take(self.pool.collect(timeout))
        if not (flush or self._due()):
            return []
        done: list[int] = []
        while self.unrecorded:
            batch = self.unrecorded[:RECORD_BATCH]
            self.finish(batch)  # StoreError: the whole batch is kept for the next attempt
            del self.unrecorded[: len(batch)]
            done.extend(result.crash_id for result in batch)
        return done

    @property
    def need(self) -> int:
        """How many more crashes the workers could start now than the queue gave them."""
        if not self.starved:
            return 0
        return self.pool.room if self.pool.busy else 1

    def _take(self, results: list[Result]) -> None:
        if results and not self.unrecorded:
            self.unrecorded_since = time.monotonic()
        self.unrecorded.extend(results)

    def _due(self) -> bool:
        return bool(self.unrecorded) and (
            len(self.unrecorded) >= RECORD_AFTER
            or time.monotonic() - self.unrecorded_since >= RECORD_DELAY
        )

    def keep(self, seconds: float, stop: threading.Event) -> None:
        """Wait SECONDS (the database is away), taking in the results that arrive meanwhile.

        Reading them keeps workers from being timed out on a reply nobody read.
        """
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self._take(self.pool.collect(min(left, 0.2)))

    def finish(self, results: list[Result]) -> None:
        """Record RESULTS in one transaction, then say what became of each."""
        outcomes = [(result.crash_id, result.outcome) for result in results]
        recorded = record_outcomes(self.store, self.identity, outcomes)
        for (_, outcome), entry in zip(outcomes, recorded):
            self._report(outcome, entry)

    def _report(self, outcome: Outcome, entry: Recorded) -> None:
        crash_id, group = entry.crash_id, entry.group_id
        if not entry.recorded:
            # Taken back as stale by another watcher, which analyzes it again: recording this
            # result too would count the crash twice.
            self.log(
                f"crash {crash_id}: claim taken back by another watcher; dropped",
                "dropped",
                crash=crash_id,
            )
            return
        self.finished.append(crash_id)
        signature = outcome.signature.text if outcome.signature else None
        if outcome.status == DONE:
            self.log(
                f"crash {crash_id} done: group {group}: {signature}",
                "done",
                crash=crash_id,
                group=group,
                signature=signature,
            )
        else:
            where = f" (group {group}: {signature})" if group is not None else ""
            self.log(
                f"crash {crash_id} failed: {outcome.error}{where}",
                "failed",
                crash=crash_id,
                error=outcome.error,
            )

    def drain(
        self,
        progress: Callable[[], None] | None = None,
        feed: Callable[[int], tuple[bool, int]] | None = None,
    ) -> None:
        """Run until nothing is pending or analyzing by this process (`triage ingest`).

        FEED records more files (as many as it is told the workers could start now, else a
        whole batch) and returns whether any are left and how many it recorded: recording
        (hashing) and analysis overlap instead of one waiting for the other.
        """
        more = feed is not None
        recorded = 0
        while True:
            if more and feed is not None:
                more, recorded = feed(self.need)
            started = self.dispatch(added=recorded > 0 or not more)
            finished = not more and started == 0 and self.pool.busy == 0
            if finished and not self.unrecorded:
                return
            # While files are still coming, wake up often enough to record them (cheap: a turn
            # with no batch due touches no database). Once all is analyzed, record the rest.
            timeout = 0.0 if finished else FEED_TICK if more else 0.5
            for _ in self.collect(timeout, flush=finished):
                if progress is not None:
                    progress()

    def release_in_flight(self) -> None:
        """Give the cores still being analyzed back to the queue (clean stop)."""
        ids = [job.crash_id for job in self.pool.in_flight()]
        if not ids:
            return
        with self.store.session() as session:
            session.execute(
                update(Crash)
                .where(
                    Crash.id.in_(ids),
                    Crash.status == ANALYZING,
                    # Still this watcher's: one taken back as stale is another's now.
                    Crash.claimed_by.startswith(f"{self.identity}#", autoescape=True),
                )
                .values(status=PENDING, claimed_by=None, attempts=Crash.attempts - 1)
                .execution_options(synchronize_session=False)
            )

    def render_reports(self) -> None:
        """Regenerate the report pages of the crashes finished since the last call."""
        ids, self.finished = self.finished, []
        if not ids or not self.reports:
            return
        render = report_renderer()
        if render is None:
            return
        try:
            render(self.store.engine, self.reports, ids, source_roots=self.config.app_roots)
        except Exception as exc:  # a report problem must never stop ingestion
            self.log(f"warning: report not updated: {type(exc).__name__}: {exc}")


def report_renderer() -> Callable[..., Any] | None:
    """``triage.report.render_changed`` when the report package is installed."""
    try:
        from ..report import render_changed
    except ImportError:
        return None
    return render_changed
