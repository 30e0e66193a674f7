"""Benchmark of `triage report`: full render of 10,000 crashes in 1,000 groups, then the
incremental update after one new crash (what `triage watch` does after each ingest).

    .venv/bin/python benchmarks/report.py [--crashes 10000] [--groups 1000] [--keep DIR]

Targets (2-core machine): full render under 30 s, incremental update under 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from triage.report.build import render_all, render_changed
from triage.store import Crash, Group, open_store

NOW = datetime.now(timezone.utc)


def python_frame(module: str, function: str, line: int, with_locals: bool) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "kind": "python",
        "file": module,
        "line": line,
        "function": function,
        "qualname": function,
        "first_line": line - 3,
        "is_entry": False,
    }
    if with_locals:
        frame["arguments"] = ["request", "timeout"]
        frame["locals"] = {"request": "<Request GET /orders/42>", "timeout": "30", "n": "7"}
    return frame


def native_frame(function: str, library: str) -> dict[str, Any]:
    return {
        "kind": "native",
        "function": function,
        "file": None,
        "line": None,
        "library": library,
        "address": "0x7f3a2b1c4d5e",
        "inlined": False,
    }


def analysis(group: int, rng: random.Random) -> dict[str, Any]:
    """A realistic document: a crashed thread with ~30 merged frames, two idle threads."""
    site = "/srv/venv/lib/python3.12/site-packages"
    crashed = [python_frame("/srv/app/main.py", "<module>", 12, False)]
    for depth in range(12):
        crashed.append(python_frame(f"{site}/web/handler{depth}.py", f"dispatch{depth}", 40, False))
        crashed.append(native_frame("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0"))
    crashed.append(python_frame(f"/srv/app/orders_{group}.py", f"handle_{group}", 88, True))
    crashed.append(native_frame(f"ext_call_{group % 50}", "_speedups.cpython-312.so"))
    crashed.append(native_frame("raise", "libc.so.6"))
    idle = [
        python_frame("/usr/lib/python3.12/threading.py", "wait", 320, rng.random() < 0.5)
        for _ in range(5)
    ]
    return {
        "schema": 1,
        "source": {"kind": "core", "path": "/spool/core", "executable": "/usr/bin/python3.12"},
        "process": {"pid": 4242, "ppid": 1, "argv": ["python3.12", "-m", "app"], "uid": 1000,
                    "gid": 1000, "signal": {"number": 11, "name": "SIGSEGV"},
                    "python_version": "3.12.3"},
        "threads": [
            {"tid": 4242, "python": True, "crashed": True, "gil": "held", "gc": False,
             "frames": crashed, "warnings": []},
            {"tid": 4243, "python": True, "crashed": False, "gil": None, "gc": False,
             "frames": idle, "warnings": []},
            {"tid": 4244, "python": True, "crashed": False, "gil": "waiting", "gc": False,
             "frames": idle, "warnings": []},
        ],
        "missing_libraries": [],
        "warnings": [],
        "error": None,
    }  # fmt: skip


def crash_row(number: int, group: int, received: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "sha256": hashlib.sha256(str(number).encode()).hexdigest(),
        "path": f"/var/spool/cores/core.{number}",
        "status": "done",
        "received_at": received,
        "analyzed_at": received + timedelta(seconds=2),
        "host": f"web-{rng.randrange(20)}",
        "executable": "/usr/bin/python3.12",
        "python_version": rng.choice(["3.12.3", "3.11.9"]),
        "signal": "SIGSEGV",
        "analysis": analysis(group, rng),
        "group_id": group,
        "service": "orders",
        "release": f"2024.{rng.randrange(1, 6)}",
        "context": {"service": "orders", "tags": {"env": "prod"}},
    }


def populate(url: str, crashes: int, groups: int, seed: int = 6) -> None:
    rng = random.Random(seed)
    store = open_store(url)
    # A few big groups and a long tail, as real crash data looks.
    sizes = [1 + int(rng.paretovariate(1.3)) for _ in range(groups)]
    while sum(sizes) < crashes:
        sizes[rng.randrange(groups)] += 1
    while sum(sizes) > crashes:
        index = max(range(groups), key=sizes.__getitem__)
        sizes[index] -= 1
    with store.session() as session:
        session.execute(
            insert(Group),
            [
                {"id": g + 1, "hash": f"{g:020x}", "signature": f"SIGSEGV | ext_call_{g % 50} | "
                 f"orders_{g + 1}:handle_{g + 1}", "hashed_text": "", "rules_version": "1",
                 "count": sizes[g]}
                for g in range(groups)
            ],
        )  # fmt: skip
        rows = []
        number = 0
        for g, size in enumerate(sizes):
            for _ in range(size):
                number += 1
                received = NOW - timedelta(minutes=rng.randrange(60 * 24 * 60))
                rows.append(crash_row(number, g + 1, received, rng))
        for start in range(0, len(rows), 1000):
            session.execute(insert(Crash), rows[start : start + 1000])
    _update_seen(store)
    store.close()


def _update_seen(store: Any) -> None:
    from sqlalchemy import func, select

    with store.session() as session:
        first = select(func.min(Crash.received_at)).where(Crash.group_id == Group.id)
        last = select(func.max(Crash.received_at)).where(Crash.group_id == Group.id)
        seen = {"first_seen": first.scalar_subquery(), "last_seen": last.scalar_subquery()}
        session.execute(update(Group).values(**seen))


def add_one(url: str, group: int, number: int) -> int:
    store = open_store(url)
    rng = random.Random(1)
    with store.session() as session:
        row = crash_row(10**9 + number, group, NOW, rng)
        crash_id = session.execute(insert(Crash).returning(Crash.id), [row]).scalar_one()
        session.execute(
            update(Group).where(Group.id == group).values(count=Group.count + 1, last_seen=NOW)
        )
    store.close()
    return crash_id


def cpu_seconds() -> float:
    """CPU time of this process and its finished workers: robust to a busy machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crashes", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="incremental updates to time")
    parser.add_argument("--keep", type=Path, help="write the database and site here")
    parser.add_argument("--workers", type=int, default=None, help="default: one per CPU")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="triage-report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{work / 'bench.db'}"
    out = work / "site"

    started = time.perf_counter()
    for old in work.glob("bench.db*"):
        old.unlink()  # always a fresh database: the incremental step adds crashes
    populate(url, args.crashes, args.groups)
    print(f"database: {args.crashes} crashes in {args.groups} groups "
          f"({time.perf_counter() - started:.1f} s to build)")  # fmt: skip

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    store = open_store(url)
    cpu = cpu_seconds()
    full = render_all(store, out, workers=args.workers)
    print(f"full render:      {full.seconds:6.2f} s wall, {cpu_seconds() - cpu:6.2f} s CPU "
          f"({full.written} pages written)")  # fmt: skip
    cpu = cpu_seconds()
    again = render_all(store, out, workers=args.workers)
    print(f"full, unchanged:  {again.seconds:6.2f} s wall, {cpu_seconds() - cpu:6.2f} s CPU "
          f"({again.unchanged} pages unchanged)")  # fmt: skip
    store.close()

    times = []
    for attempt in range(args.repeat):
        crash_id = add_one(url, group=1 + attempt * 7, number=attempt)
        store = open_store(url)
        changed = render_changed(store, out, [crash_id])
        store.close()
        times.append(changed.seconds)
        print(f"incremental:      {changed.seconds:6.3f} s  ({changed.written} pages written)")
    print(f"incremental median {statistics.median(times):.3f} s")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    size = sum(p.stat().st_size for p in out.rglob("*.html"))
    print(f"site: {size / 1e6:.0f} MB in {full.written} pages, at {out}")


if __name__ == "__main__":
    main()
