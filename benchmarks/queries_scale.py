"""`groups` and `show` at a million crashes, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/queries_scale.py [--crashes 1000000] [--groups 5000]
        [--workdir DIR] [--postgres URL] [--no-sqlite] [--no-postgres]

Fills each database once (synthetic crashes in groups, a few large ones and a long tail; the
filled databases are kept in WORKDIR, and on PostgreSQL in the database given or on a
throwaway server started for the run), then times in process the queries behind `triage
groups` (no filter, --since 7d, --host, --python), `triage show` of the largest group and
`triage crashes --status failed`/`--host`: medians of 20. Prints a Markdown table. Not run in CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pipeline import fill_database, median_ms  # noqa: E402


def throwaway_server() -> Any:
    """The tests' PostgreSQL cluster helper: initdb in a temporary directory, a unix socket."""
    path = HERE.parent / "tests" / "pipeline" / "pgserver.py"
    spec = importlib.util.spec_from_file_location("pgserver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bindir = module.find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server installed: give --postgres URL")
    return module.Cluster(bindir).init()


def filled(url: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return bool(connection.execute(text("SELECT count(*) FROM crashes")).scalar())
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def mark_some_failed(url: str) -> None:
    """One crash in a thousand failed, as real queues have: `crashes --status failed`."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE crashes SET status = 'failed', error = 'x' WHERE id % 1000 = 0")
        )
    engine.dispose()


def time_queries(url: str) -> dict[str, float]:
    from triage.store import open_store
    from triage.store.queries import (
        Filters,
        breakdowns,
        find_group,
        latest,
        list_crashes,
        list_groups,
        representative,
    )

    started = time.perf_counter()
    store = open_store(url)  # migrates to the newest schema (indexes included) if needed
    print(f"open (and migrate if needed): {time.perf_counter() - started:.1f} s", file=sys.stderr)
    since = datetime.now(timezone.utc) - timedelta(days=7)

    def groups(filters: Filters) -> None:
        with store.session() as session:
            list_groups(session, filters, "count", 50)

    def show() -> None:  # what `triage show` reads
        with store.session() as session:
            group = find_group(session, "1")
            breakdowns(session, {group.id: group.count})
            latest(session, group.id, 10)
            representative(session, group.id)

    def crashes(filters: Filters) -> None:
        with store.session() as session:
            list_crashes(session, filters, 100)

    figures = {
        "groups (no filter)": median_ms(lambda: groups(Filters()), 20),
        "groups --since 7d": median_ms(lambda: groups(Filters(since=since)), 20),
        "groups --host host-7": median_ms(lambda: groups(Filters(host="host-7")), 20),
        "groups --python 3.12": median_ms(lambda: groups(Filters(python="3.12")), 20),
        "show 1 (the largest group)": median_ms(show, 20),
        "crashes --status failed": median_ms(lambda: crashes(Filters(status="failed")), 20),
        "crashes --host host-7": median_ms(lambda: crashes(Filters(host="host-7")), 20),
    }
    store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crashes", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=5000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--postgres", metavar="URL", default=None)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="triage-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    urls = {}
    server = None
    if not args.no_sqlite:
        urls["SQLite"] = f"sqlite:///{workdir / f'scale-{args.crashes}.db'}"
    if not args.no_postgres:
        if args.postgres is None:
            server = throwaway_server()
        urls["PostgreSQL"] = args.postgres or server.url()
    results = {}
    try:
        for backend, url in urls.items():
            if not filled(url):
                print(f"{backend}: filling {args.crashes:,} crashes ...", file=sys.stderr)
                fill_database(url, args.crashes, args.groups)
                mark_some_failed(url)
            results[backend] = time_queries(url)
            print(f"{backend}: {results[backend]}", file=sys.stderr)
    finally:
        if server is not None:
            server.remove()
    backends = list(results)
    print(
        f"| query ({args.crashes:,} crashes, {args.groups:,} groups) | "
        + " | ".join(backends)
        + " | target |"
    )
    print("|---|" + "---|" * len(backends) + "---|")
    for name in next(iter(results.values())):
        cells = " | ".join(f"{results[b][name]:.1f} ms" for b in backends)
        print(f"| {name} | {cells} | < 150 ms |")
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
