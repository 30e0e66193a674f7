"""``triage demo``: crash sample programs under the local interpreters, ingest, show groups."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from ..errors import TriageError
from . import options

PROGRAMS = Path(__file__).resolve().parent.parent / "samples" / "programs"
HOSTS = ("web-1", "web-2", "batch-1")
MIN_OCCURRENCES = 3  # per bug, so that every group has several crashes


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "demo",
        parents=[common],
        help="crash sample programs, ingest their cores and show the groups",
        description="Run sample programs with three distinct bugs under every local Python "
        "(pyenv versions and /usr/bin/python3), collect their cores into a demo spool, ingest "
        "them and print the crash groups.",
    )
    parser.set_defaults(run=run)
    parser.add_argument(
        "--dir", default="triage-demo", help="demo directory (default ./triage-demo)"
    )
    parser.add_argument(
        "--workers",
        type=options.positive_int,
        default=None,
        metavar="N",
        help="analysis processes (default: the number of CPUs)",
    )


def run(args: argparse.Namespace) -> int:
    from ..samples.cores import interpreters, kernel_writes_cores_here

    base = Path(args.dir).resolve()
    spool, work, reports = base / "spool", base / "work", base / "reports"
    spool.mkdir(parents=True, exist_ok=True)
    pythons = interpreters()
    if not pythons:
        raise TriageError("no Python interpreter found to crash (pyenv, /usr/bin/python3)")
    how = "kernel cores" if kernel_writes_cores_here() else "gcore (core_pattern sends cores away)"
    say(f"crashing {len(_programs())} sample programs under {len(pythons)} interpreter(s), {how}")
    made = _make_cores(pythons, spool, work)
    if not made:
        raise TriageError("no core could be made (see the messages above)")
    url = f"sqlite:///{base / 'triage.db'}"
    rendered = _ingest(spool, url, str(reports), args.workers)
    _print_summary(made, spool, url, reports if rendered else None)
    from . import main

    return main(["groups", "--db", url])


def say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def _programs() -> list[Path]:
    return sorted(PROGRAMS.glob("*.py"))


def _make_cores(pythons: list[Any], spool: Path, work: Path) -> int:
    from ..samples.cores import make_core

    occurrences = max(1, -(-MIN_OCCURRENCES // len(pythons)))
    made = 0
    for program in _programs():
        for index, python in enumerate(pythons):
            for occurrence in range(occurrences):
                serial = index * occurrences + occurrence
                # Each run from another "release" directory: paths and pids differ, as they do
                # between the hosts of a real service; the grouping must not care.
                release = f"2024.{serial + 1}"
                workdir = work / f"release-{release}" / program.stem
                workdir.mkdir(parents=True, exist_ok=True)
                script = workdir / program.name
                shutil.copyfile(program, script)
                try:
                    core = make_core([python.path, "-E", str(script)], str(workdir))
                except (OSError, RuntimeError) as exc:
                    say(f"skipped {program.stem} under {python.name}: {exc}")
                    continue
                name = f"core.{program.stem}.{serial + 1}.{os.path.basename(core)}"
                sidecar = {
                    "host": HOSTS[serial % len(HOSTS)],
                    "service": "demo-shop",
                    "release": release,
                    "executable": python.path,
                    "tags": {"program": program.stem, "interpreter": python.name},
                }
                # The collector's way: the sidecar first, then the core renamed into place.
                (spool / f"{name}.json").write_text(json.dumps(sidecar, indent=1))
                os.replace(core, spool / name)
                made += 1
        say(f"{program.stem}: cores written")
    return made


def _ingest(spool: Path, url: str, reports: str, workers: int | None) -> bool:
    """Ingest the demo spool; True when the HTML report was rendered."""
    from ..signature import load_config
    from ..spool.events import quiet
    from ..spool.intake import ingest_file
    from ..spool.pipeline import Pipeline, report_renderer
    from ..spool.pool import WorkerPool
    from ..spool.watcher import scan
    from ..store import open_store

    store = open_store(url)
    try:
        for path in scan(str(spool)):
            ingest_file(store, path, str(spool))
        config = load_config(None)
        with WorkerPool(workers or os.cpu_count() or 1, config=config) as pool:
            pipeline = Pipeline(store, pool, config, reports, log=quiet)
            pipeline.drain()
            pipeline.render_reports()
    finally:
        store.close()
    return report_renderer() is not None


def _print_summary(made: int, spool: Path, url: str, reports: Path | None) -> None:
    print(f"{made} cores in {spool}")
    print(f"database: {url}")
    if reports is not None:
        print(f"report:   {reports / 'index.html'}")
    print(f"next:     triage show 1 --db {url}    triage crashes --db {url}")
    print()
