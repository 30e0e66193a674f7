"""``triage retention --keep N [--max-size SIZE] [--dry-run]``: delete cores no group needs."""

from __future__ import annotations

import argparse
import re
from typing import Any

from . import options

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "retention",
        parents=[common],
        help="delete core files beyond what each group keeps (analyses stay)",
        description="Per group, keep the newest N cores and the first core of each release; "
        "with --max-size, delete the oldest of the others until the cores fit. The analyses "
        "stay in the database. Run with --dry-run first.",
    )
    parser.set_defaults(run=run)
    parser.add_argument(
        "--keep",
        type=options.positive_int,
        required=True,
        metavar="N",
        help="newest cores kept per group",
    )
    parser.add_argument(
        "--max-size",
        type=size,
        metavar="SIZE",
        help="disk budget of all the cores kept, e.g. 500M, 20G",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted, delete nothing"
    )
    options.add_db(parser)


def size(text: str) -> int:
    match = _SIZE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 500M, 20G)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def run(args: argparse.Namespace) -> int:
    from ..render.style import escape
    from ..store import open_store
    from ..store.retention import apply, plan

    store = open_store(args.db, create=False)
    try:
        planned = plan(store, args.keep, args.max_size)
        if args.dry_run:
            for _crash_id, path, _size in planned.delete:
                print(f"would delete {escape(path)}")
            print(
                f"would delete {len(planned.delete)} core(s), {_mb(planned.freed)}; "
                f"keep {planned.kept} core(s), {_mb(planned.kept_bytes)}"
            )
            return 0
        deleted, problems = apply(store, planned)
    finally:
        store.close()
    for problem in problems:
        print(f"triage: warning: not deleted: {escape(problem)}")
    print(f"deleted {deleted} core(s), {_mb(planned.freed)}; kept {planned.kept} core(s)")
    return 1 if problems else 0


def _mb(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB"
