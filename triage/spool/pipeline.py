"""The queue loop shared by `ingest` and `watch`: claim pending crashes, analyze, record, group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from ..document import from_json
from ..scrub import scrub
from ..signature import SignatureConfig, compute
from ..store import ANALYZING, DONE, FAILED, PENDING, Crash, Store
from ..store.batch import Recorded, record_outcomes
from ..store.grouping import Outcome
from ..store.queue import claim, readable_here, recover, worker_identity
from .events import Log, stderr_log
from .pool import Job, Result, WorkerPool
from .verdict import ungroupable

# Pending cores another host's spool holds are not looked at again for this long (a shared
# spool may show a file later than the database does).
FOREIGN_RETRY_SECONDS = 30.0
# Results recorded per transaction at most: one transaction for everything a collect returns,
# but not an unbounded one after the database was away for a while.
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
        self.foreign: set[int] = set()  # pending crashes whose core this host cannot read
        self.foreign_since = time.monotonic()

    def recover(self) -> int:
        """Put back the work dead watchers left `analyzing` (any host's, once stale)."""
        stale = timedelta(seconds=max(600.0, 3 * self.pool.time_limit))
        mine = {job.crash_id for job in self.pool.in_flight()}
        mine.update(result.crash_id for result in self.unrecorded)
        return recover(self.store, stale, self.identity, readable_here, mine)

    def dispatch(self) -> int:
        """Fill the workers' queues with pending crashes this host can read, several claimed in
        one transaction; returns how many were given out."""
        if time.monotonic() - self.foreign_since > FOREIGN_RETRY_SECONDS:
            self.foreign.clear()
            self.foreign_since = time.monotonic()
        # With each crash, what the intake recorded: identity, raw name.
        jobs = claim(self.store, self.pool.room, self.identity, readable_here, self.foreign)
        for crash_id, path, context in jobs:
            self.pool.submit(Job(crash_id, path, context))
        return len(jobs)

    def collect(self, timeout: float) -> list[int]:
        """Record the results that arrive within TIMEOUT; returns their crash ids."""
        self.unrecorded.extend(self.pool.collect(timeout))
        done: list[int] = []
        while self.unrecorded:
            batch = self.unrecorded[:RECORD_BATCH]
            self.finish(batch)  # StoreError: the whole batch is kept for the next attempt
            del self.unrecorded[: len(batch)]
            done.extend(result.crash_id for result in batch)
        return done

    def keep(self, seconds: float, stop: threading.Event) -> None:
        """Wait SECONDS (the database is away), taking in the results that arrive meanwhile.

        Reading them keeps workers from being timed out on a reply nobody read.
        """
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self.unrecorded.extend(self.pool.collect(min(left, 0.2)))

    def finish(self, results: list[Result]) -> None:
        """Record RESULTS in one transaction, then say what became of each."""
        outcomes = [(result.crash_id, outcome_of(result, self.config)) for result in results]
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
        feed: Callable[[], bool] | None = None,
    ) -> None:
        """Run until nothing is pending or analyzing by this process (`triage ingest`).

        FEED records one more file and returns False when there is none left: recording
        (hashing) and analysis overlap instead of one waiting for the other.
        """
        more = feed is not None
        while True:
            if more and feed is not None:
                more = feed()
            started = self.dispatch()
            if not more and started == 0 and self.pool.busy == 0 and not self.unrecorded:
                return
            for _ in self.collect(0.0 if more else 0.5):
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


def outcome_of(result: Result, config: SignatureConfig) -> Outcome:
    """Done and grouped when a usable stack was recovered; failed, with why, otherwise.

    A failed core keeps whatever its analysis read (signal, executable, pid) but no group.
    """
    if result.analysis is None:
        return Outcome(FAILED, result.error or "analysis gave no result")
    # Secrets go before anything is stored (the worker's document only crossed a pipe).
    analysis = scrub(from_json(result.analysis), config.scrub)
    signature = compute(analysis, config)
    error = result.error or ungroupable(analysis, signature)
    if error is not None:
        return Outcome(FAILED, error, analysis)
    return Outcome(DONE, None, analysis, signature)


def report_renderer() -> Callable[..., Any] | None:
    """``triage.report.render_changed`` when the report package is installed."""
    try:
        from ..report import render_changed
    except ImportError:
        return None
    return render_changed
