"""Batches: results recorded together, claims of several cores at once, workers with a queue.

Recording a batch must give what recording its outcomes one at a time gives (groups, counts,
first/last seen, breakdowns, releases, merges, regressions); a result whose claim was taken
back is dropped alone; a worker killed with jobs queued behind it fails only the one it was
running; and a watcher killed between claiming a batch and recording it leaves every crash of
the batch recoverable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from triage.outcome import Outcome, outcome_from_json
from triage.signature import SignatureConfig
from triage.spool.pipeline import Pipeline
from triage.spool.pool import Job, Result, WorkerPool
from triage.spool.worker import FAULT_VARIABLE, handle
from triage.store import Crash, Group, Store, open_store
from triage.store.batch import record_outcomes
from triage.store.models import RESOLVED, utcnow
from triage.store.queue import NewCrash, add_crash, claim, worker_identity
from triage.store.rules import add_merge

from .conftest import PYTHON, rows, wait_until

CONFIG = SignatureConfig()
# Compared between one-at-a-time and batched recording (ids and times of the run differ).
CRASH_COLUMNS = ", ".join(
    f"c.{column}"
    for column in (
        "path status error executable python_version signal pid signature signature_hash "
        "rules_version release kind quality claimed_by host"
    ).split()
)


class Events:
    """A pipeline log that keeps (event, fields)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, message: str, event: str = "info", **fields: Any) -> None:
        self.seen.append((event, fields))


class NoPool:
    """The pipeline's pool when results are handed to it directly."""

    time_limit = 60.0

    def in_flight(self) -> list[Job]:
        return []


@pytest.fixture(scope="module")
def analyses(cores: dict[str, list[Path]]) -> list[tuple[Path, Outcome]]:
    """Worker outcomes for real cores: three bugs, the first twice (one group of two)."""
    chosen = [cores["abort"][0], cores["abort"][1], cores["other_abort"][0], cores["segv"][0]]
    outcomes = [
        (core, outcome_from_json(handle({"id": 0, "path": str(core)}, config=CONFIG)["outcome"]))
        for core in chosen
    ]
    assert all(outcome.signature is not None for _, outcome in outcomes)
    return outcomes


def _queue(
    store: Store, cores: list[Path], releases: list[str | None], first: int = 0
) -> list[int]:
    """Record the cores (a distinct content hash each) and claim them all for this process."""
    ids = []
    for number, (core, release) in enumerate(zip(cores, releases), first):
        info = core.stat()
        new = NewCrash(
            path=f"{core}#{number}",
            size=info.st_size,
            mtime_ns=info.st_mtime_ns + number,
            sha256=f"{number:064x}",
            host=f"host-{number % 2}",
            release=release,
            executable="/usr/bin/app" if number % 2 else None,
            crashed_at=datetime(2026, 1, 1 + number % 3, tzinfo=timezone.utc),
        )
        ids.append(add_crash(store, new)[0])
    claimed = claim(store, len(ids), worker_identity())
    assert sorted(crash_id for crash_id, _, _ in claimed) == sorted(ids)
    return ids


def _results(ids: list[int], outcomes: list[Outcome]) -> list[Result]:
    return [Result(i, outcome) for i, outcome in zip(ids, outcomes)]


def _state(url: str) -> dict[str, Any]:
    groups = rows(
        url,
        "SELECT hash, signature, count, first_seen, last_seen, kind, first_release, "
        "last_release, status FROM groups ORDER BY hash",
    )
    facets = rows(
        url,
        "SELECT g.hash, f.kind, f.value, f.count FROM group_facets f "
        "JOIN groups g ON g.id = f.group_id ORDER BY g.hash, f.kind, f.value",
    )
    crashes = rows(url, f"SELECT {CRASH_COLUMNS}, g.hash AS group_hash FROM crashes c "
                   "LEFT JOIN groups g ON g.id = c.group_id ORDER BY c.path")  # fmt: skip
    for row in [*groups, *crashes]:  # as text: SQLite and PostgreSQL give times differently
        for key in ("first_seen", "last_seen"):
            if row.get(key) is not None:
                row[key] = str(row[key])[:19].replace("T", " ")
    return {"groups": groups, "facets": facets, "crashes": crashes}


def _prepare(store: Store, outcomes: list[Outcome]) -> None:
    """A resolved group (for a regression) and a merge rule (one bug joins another's group)."""
    abort, other = outcomes[1:3]
    assert abort.signature is not None and other.signature is not None
    with store.session() as session:
        add_merge(session, other.signature.hash, abort.signature.hash)


def test_a_batch_records_what_one_at_a_time_records(
    db_url: str, tmp_path: Path, analyses: list[tuple[Path, Outcome]]
) -> None:
    cores = [core for core, _ in analyses] * 2
    outcomes = [reply for _, reply in analyses] * 2
    releases = ["1.9", "1.10", None, "2.0", "1.11", None, "1.8", "2.1"]
    reference_url = f"sqlite:///{tmp_path / 'one-at-a-time.db'}"
    states = []
    for url, batched in ((reference_url, False), (db_url, True)):
        store = open_store(url)
        _prepare(store, outcomes)
        first = _queue(store, cores[:4], releases[:4])
        _record(store, _results(first, outcomes[:4]), batched)
        with store.session() as session:  # resolved: the next batch's later release regresses
            session.execute(update(Group).values(status=RESOLVED, resolved_in="1.10"))
        second = _queue(store, cores[4:], releases[4:], 4)
        _record(store, _results(second, outcomes[4:]), batched)
        store.close()
        states.append(_state(url))
    reference, batched_state = states
    assert batched_state == reference
    assert sum(group["count"] for group in reference["groups"]) == len(cores)
    assert {group["status"] for group in reference["groups"]} == {"regressed"}


def _record(store: Store, results: list[Result], batched: bool) -> None:
    """All in one transaction, or each in its own (a batch of one: the reference)."""
    outcomes = [(result.crash_id, result.outcome) for result in results]
    batches = [outcomes] if batched else [[outcome] for outcome in outcomes]
    for batch in batches:
        assert all(e.recorded for e in record_outcomes(store, worker_identity(), batch))


def test_a_result_whose_claim_was_taken_back_is_dropped_alone(
    db_url: str, analyses: list[tuple[Path, Outcome]]
) -> None:
    store = open_store(db_url)
    cores = [core for core, _ in analyses]
    ids = _queue(store, cores, [None] * len(cores))
    taken = ids[1]
    with store.session() as session:  # another watcher took it back as stale and claimed it
        session.execute(
            update(Crash)
            .where(Crash.id == taken)
            .values(claimed_by="elsewhere:1:2:3#9", claimed_at=utcnow())
        )
    events = Events()
    pipeline = Pipeline(store, NoPool(), CONFIG, log=events)  # type: ignore[arg-type]
    pipeline.finish(_results(ids, [outcome for _, outcome in analyses]))
    store.close()
    assert [(event, fields["crash"]) for event, fields in events.seen] == [
        ("done", ids[0]),
        ("dropped", taken),
        ("done", ids[2]),
        ("done", ids[3]),
    ]
    crashes = {crash["id"]: crash for crash in rows(db_url)}
    assert crashes[taken]["status"] == "analyzing"
    assert crashes[taken]["claimed_by"] == "elsewhere:1:2:3#9"
    assert crashes[taken]["group_id"] is None
    assert all(crashes[i]["status"] == "done" for i in ids if i != taken)
    groups = rows(db_url, "SELECT * FROM groups")
    assert sum(group["count"] for group in groups) == len(ids) - 1


def test_a_batch_whose_claims_were_all_taken_back_changes_nothing(
    db_url: str, analyses: list[tuple[Path, Outcome]]
) -> None:
    store = open_store(db_url)
    cores = [core for core, _ in analyses]
    ids = _queue(store, cores[:2], [None, None])
    with store.session() as session:
        session.execute(update(Crash).values(claimed_by="elsewhere:1:2:3#9"))
    before = rows(db_url)
    outcomes = list(zip(ids, [outcome for _, outcome in analyses]))
    recorded = record_outcomes(store, worker_identity(), outcomes)
    store.close()
    assert [(entry.crash_id, entry.recorded) for entry in recorded] == [(i, False) for i in ids]
    assert rows(db_url) == before
    assert rows(db_url, "SELECT * FROM groups") == []


def test_a_worker_killed_with_jobs_queued_fails_only_the_one_it_ran(
    cores: dict[str, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hang = tmp_path / "core.hang"
    hang.write_bytes(cores["abort"][0].read_bytes())
    crash = tmp_path / "core.crash"
    crash.write_bytes(cores["abort"][0].read_bytes())
    monkeypatch.setenv(FAULT_VARIABLE, "hang:core.hang,crash:core.crash")
    jobs = [
        Job(1, str(hang)),  # timed out: its worker is killed
        Job(2, str(cores["abort"][1])),
        Job(3, str(crash)),  # crashes the replacement
        Job(4, str(cores["segv"][0])),
    ]
    results: dict[int, Result] = {}
    with WorkerPool(1, time_limit=4.0, depth=len(jobs)) as pool:
        for job in jobs:
            pool.submit(job)
        assert pool.busy == len(jobs) and pool.room == 0

        def collected() -> bool:
            results.update({r.crash_id: r for r in pool.collect(0.5)})
            return len(results) == len(jobs)

        wait_until(collected, 120, "every job's result")
        assert pool.busy == 0 and pool.in_flight() == []
    assert results[1].outcome.error == "analysis timed out after 4 s"
    crashed = results[3].outcome.error
    assert crashed is not None and "crashed the worker" in crashed
    for ok in (2, 4):  # queued behind a killed worker: analyzed by its replacement, once
        assert results[ok].outcome.error is None and results[ok].outcome.document is not None


def test_ingest_killed_between_claim_and_record_leaves_the_batch_recoverable(
    db_url: str, tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    paths = []
    for number, source in enumerate(cores["abort"] + cores["segv"]):
        target = tmp_path / f"core.{number}"
        target.write_bytes(source.read_bytes())
        paths.append(str(target))
    args = [PYTHON, "-m", "triage", "ingest", *paths, "--db", db_url, "--workers", "2"]
    env = dict(os.environ, **{FAULT_VARIABLE: "hang:core."})
    log = tmp_path / "killed.log"
    with open(log, "wb") as stream:
        process = subprocess.Popen([*args, "--no-report"], cwd=tmp_path, env=env, stderr=stream)
    try:

        def claimed() -> list[dict[str, Any]]:
            found = [c for c in rows(db_url) if c["status"] == "analyzing"]
            # More than one per worker: jobs queued behind both (the claims come as the
            # workers' queues run low, so not always all 6 before the kill).
            return found if len(found) >= 4 else []

        try:
            batch = wait_until(claimed, 120, "a batch claimed")
        except AssertionError as exc:  # with what the ingest said
            raise AssertionError(f"{exc}: {log.read_text(errors='replace')}") from None
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    tokens = {crash["claimed_by"] for crash in batch}
    assert all(token and token.split("#")[0].split(":")[2] == str(process.pid) for token in tokens)
    assert {c["status"] for c in rows(db_url)} <= {"pending", "analyzing"}  # nothing recorded
    again = subprocess.run(
        [*args, "--no-report"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    crashes = rows(db_url)
    assert len(crashes) == len(paths) and {c["status"] for c in crashes} == {"done"}
    claimed_ids = {crash["id"] for crash in batch}
    assert {c["id"]: c["attempts"] for c in crashes if c["id"] in claimed_ids} == {
        crash_id: 2 for crash_id in claimed_ids
    }
    groups = rows(db_url, "SELECT * FROM groups")
    assert sum(group["count"] for group in groups) == len(paths)  # counted once each


def test_workers_sign_and_scrub_with_the_settings_ingest_was_given(
    tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    """The workers compute signatures and scrub secrets: with the parent's settings, not the
    bundled ones (they are sent to each worker as it starts)."""
    rules = tmp_path / "rules.toml"
    rules.write_text('frames = 1\n[scrub]\nnames = ["request"]\n')
    db = tmp_path / "triage.db"
    result = subprocess.run(
        [PYTHON, "-m", "triage", "ingest", str(cores["abort"][0]), "--db", f"sqlite:///{db}",
         "--no-report", "--signature-config", str(rules)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (crash,) = rows(f"sqlite:///{db}")
    assert crash["signature"] == "SIGABRT | app:handle"  # one frame
    assert crash["rules_version"] != "1"  # the user's file is part of the rules' version
    frames = json.loads(crash["analysis"])["threads"][0]["frames"]
    handle = next(frame for frame in frames if frame.get("function") == "handle")
    assert handle["locals"]["request"] == "[redacted]"


class HandingPool(NoPool):
    """A pool whose workers have just answered with RESULTS."""

    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.busy = 1

    def collect(self, timeout: float) -> list[Result]:
        handed, self.results = self.results, []
        return handed


def test_results_wait_for_a_batch_unless_flushed(
    tmp_path: Path, analyses: list[tuple[Path, Outcome]]
) -> None:
    """One result alone is not worth a transaction: it waits for others (or RECORD_DELAY),
    and is recorded at once when the pipeline is told to flush (the watcher stopping)."""
    store = open_store(f"sqlite:///{tmp_path / 'triage.db'}")
    ids = _queue(store, [analyses[0][0]], [None])
    pool = HandingPool(_results(ids, [analyses[0][1]]))
    pipeline = Pipeline(store, pool, CONFIG, log=Events())  # type: ignore[arg-type]
    assert pipeline.collect(0.0) == [] and len(pipeline.unrecorded) == 1
    assert pipeline.collect(0.0, flush=True) == ids
    store.close()
    assert [crash["status"] for crash in rows(f"sqlite:///{tmp_path / 'triage.db'}")] == ["done"]


def test_a_worker_whose_pool_is_gone_leaves_without_a_traceback(tmp_path: Path) -> None:
    """A watcher killed outright closes the worker's reply pipe before the parent-death signal
    arrives: the worker's next reply meets a broken pipe, and its stderr is the host's log."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "triage.spool.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdout.close()  # the pool's end of the replies
    request = {"id": 1, "path": str(tmp_path / "missing.core")}
    _, errors = worker.communicate((json.dumps(request) + "\n").encode(), timeout=60)
    assert worker.returncode == 0
    assert b"Traceback" not in errors and b"Exception ignored" not in errors, errors


def test_a_core_gone_without_a_recorded_identity_fails_alone(tmp_path: Path) -> None:
    """A crash recorded before identities were kept, whose core is gone: a failed outcome with
    one line, not a worker that dies on the error."""
    reply = handle({"id": 7, "path": str(tmp_path / "gone.core")})
    outcome = outcome_from_json(reply["outcome"])
    assert (reply["id"], outcome.status) == (7, "failed")
    assert outcome.error == f"cannot open {tmp_path / 'gone.core'}: No such file or directory"
