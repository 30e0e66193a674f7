"""``triage groups``: crash groups, most frequent first, as a table, JSON or CSV."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..versions import version_key
from . import options
from .table import print_csv, print_json, print_table, short_time

HEADERS = ("id", "hash", "count", "first seen", "last seen", "python", "hosts", "signature")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "groups",
        parents=[common],
        help="list crash groups (same signature)",
        description="List crash groups. With filters, counts and dates are those of the "
        "matching crashes; the Python versions, executables and hosts listed are the group's.",
    )
    parser.set_defaults(run=run)
    options.add_db(parser)
    options.add_filters(parser)
    parser.add_argument(
        "--status",
        choices=("new", "regressed", "resolved"),
        help="only groups in this state (`triage resolve` marks a group resolved)",
    )
    parser.add_argument(
        "--kind", choices=("crash", "hang"), help="only crashes, or only hangs (snapshots)"
    )
    parser.add_argument(
        "--sort",
        choices=("count", "last", "first"),
        default="count",
        help="most crashes first (default), most recent last crash, or most recent first crash",
    )
    parser.add_argument(
        "--limit",
        type=options.positive_int,
        default=50,
        metavar="N",
        help="at most N groups (default 50)",
    )
    options.add_wide(parser)
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON array")
    output.add_argument("--csv", action="store_true", help="print CSV")


def span(values: list[str], key: Callable[[str], Any], shown: int = 3) -> str:
    """A short cell for many values: ``2.7.18..3.13.0 (10)`` rather than all ten."""
    ordered = sorted(values, key=key)
    if len(ordered) <= shown:
        return ",".join(ordered) or "-"
    return f"{ordered[0]}..{ordered[-1]} ({len(ordered)})"


def run(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..store.queries import Filters, list_groups

    filters = Filters(
        args.since,
        args.executable,
        args.python,
        args.host,
        kind=args.kind,
        group_status=args.status,
    )
    store = open_store(args.db, create=False)
    try:
        with store.session() as session:
            groups = list_groups(session, filters, args.sort, args.limit)
    finally:
        store.close()
    if args.json:
        print_json(groups)
        return 0
    rows = [
        (
            g["id"],
            g["hash"][:12],
            g["count"],
            short_time(g["first_seen"]),
            short_time(g["last_seen"]),
            span(g["python_versions"], version_key),
            span(g["hosts"], str),
            g["signature"],
        )
        for g in groups
    ]
    if args.csv:
        full = [
            (
                g["id"],
                g["hash"],
                g["count"],
                g["first_seen"],
                g["last_seen"],
                g["python_versions"],
                g["hosts"],
                g["signature"],
            )
            for g in groups
        ]
        print_csv(HEADERS, full)
    elif rows:
        # Narrow terminals lose the hash, the first seen, the hosts, then the Python versions.
        print_table(HEADERS, rows, wide=args.wide, optional=(1, 3, 6, 5))
    else:
        print("no crash groups")
    return 0
