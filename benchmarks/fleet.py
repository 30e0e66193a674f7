"""Three watchers sharing one PostgreSQL database: throughput, and proof that no core is
analyzed twice.

    .venv/bin/python benchmarks/fleet.py [--cores 600] [--watchers 3] [--workers 1]
        [--postgres URL] [--workdir DIR]

Makes a few real cores (the demo's sample programs), copies them into one spool per watcher as
distinct files (a salt appended: another content hash), starts every watcher at the same moment
on a new database (`--host host-N`, each on its own spool), and times until every crash is
settled. The proof: each watcher logs one line per analysis it records; across all logs every
crash id appears exactly once, every crash is `done` once with one attempt, and the group
counts add up to the number of cores. Not run in CI.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pipeline import make_cores  # noqa: E402
from queries_scale import throwaway_server  # noqa: E402

DONE_LINE = re.compile(r"crash (\d+) (done|failed)")


def fill_spools(base: list[Path], workdir: Path, cores: int, watchers: int) -> list[Path]:
    spools = []
    for host in range(watchers):
        spool = workdir / f"spool-{host}"
        shutil.rmtree(spool, ignore_errors=True)
        spool.mkdir()
        spools.append(spool)
    for number in range(cores):
        target = spools[number % watchers] / f"core.{number}"
        shutil.copyfile(base[number % len(base)], target)
        with open(target, "ab") as stream:
            stream.write(f"#{number}".encode())
    return spools


def rows(url: str, sql: str) -> list[dict[str, object]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def settled(url: str, expected: int) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        found = rows(url, "SELECT status, count(*) AS n FROM crashes GROUP BY status")
    except SQLAlchemyError:  # the schema is not there yet
        return False
    counts = {str(row["status"]): int(str(row["n"])) for row in found}
    return sum(counts.values()) >= expected and set(counts) <= {"done", "failed"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=600)
    parser.add_argument("--watchers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="per watcher")
    parser.add_argument("--postgres", metavar="URL", default=None, help="an empty database")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="triage-fleet-"))
    workdir.mkdir(parents=True, exist_ok=True)
    base = make_cores(4, workdir)
    spools = fill_spools(base, workdir, args.cores, args.watchers)
    server = None if args.postgres else throwaway_server()
    url = args.postgres or server.url()
    logs = [workdir / f"watch-{n}.log" for n in range(args.watchers)]
    processes = []
    try:
        started = time.perf_counter()
        for number, spool in enumerate(spools):
            with open(logs[number], "wb") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "triage",
                            "watch",
                            str(spool),
                            "--db",
                            url,
                            "--host",
                            f"host-{number}",
                            "--workers",
                            str(args.workers),
                            "--settle",
                            "0.5",
                            "--no-report",
                        ],
                        cwd=workdir,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        while not settled(url, args.cores):
            if any(process.poll() is not None for process in processes):
                raise SystemExit("a watcher exited: see " + ", ".join(map(str, logs)))
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        time.sleep(2.0)  # a second analysis of some core would be logged by now
        crashes = rows(url, "SELECT id, status, attempts, host FROM crashes")
        counted = rows(url, "SELECT sum(count) AS n FROM groups")[0]["n"]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        if server is not None:
            server.remove()
    analyses = Counter()
    per_watcher = []
    for log in logs:
        ids = [int(match.group(1)) for match in DONE_LINE.finditer(log.read_text())]
        analyses.update(ids)
        per_watcher.append(len(ids))
    twice = sorted(crash_id for crash_id, times in analyses.items() if times > 1)
    statuses = Counter(str(crash["status"]) for crash in crashes)
    print(f"| cores | {args.cores} in {args.watchers} spools |")
    print("|---|---|")
    print(f"| watchers x workers | {args.watchers} x {args.workers} |")
    print(f"| wall time, start of the watchers to the last crash settled | {elapsed:.1f} s |")
    print(f"| throughput | {args.cores / elapsed * 60:.0f} cores/min |")
    print(f"| analyses recorded per watcher | {', '.join(map(str, per_watcher))} |")
    print(f"| crashes: rows, statuses | {len(crashes)}, {dict(statuses)} |")
    print(f"| crash ids recorded twice (all logs) | {len(twice)} |")
    retried = sum(int(str(crash["attempts"])) > 1 for crash in crashes)
    print(f"| crashes with more than one attempt | {retried} |")
    print(f"| sum of group counts | {counted} |")
    ok = not twice and len(crashes) == args.cores and counted == args.cores
    print("no double analysis: " + ("proved" if ok else "FAILED"), file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
