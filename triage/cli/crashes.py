"""``triage crashes``: crashes newest first, with their status and, when failed, why."""

from __future__ import annotations

import argparse
from typing import Any

from . import options
from .table import print_json, print_table, short_time

HEADERS = ("id", "status", "group", "signal", "python", "host", "received", "path", "detail")
STATUS_CHOICES = ("ok", "done", "failed", "pending", "analyzing")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "crashes",
        parents=[common],
        help="list crashes with their status (errors of failed ones)",
        description="List crashes, newest first.",
    )
    parser.set_defaults(run=run)
    options.add_db(parser)
    parser.add_argument("--group", metavar="GROUP", help="group id or signature hash prefix")
    options.add_filters(parser)
    parser.add_argument(
        "--status", choices=STATUS_CHOICES, help="ok (= done), failed, pending or analyzing"
    )
    parser.add_argument(
        "--kind", choices=("crash", "hang"), help="only crashes, or only hangs (snapshots)"
    )
    parser.add_argument(
        "--limit",
        type=options.positive_int,
        default=100,
        metavar="N",
        help="at most N crashes, newest first (default 100)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    options.add_wide(parser)


def run(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..store.queries import Filters, crash_json, find_group, list_crashes

    status = "done" if args.status == "ok" else args.status
    store = open_store(args.db, create=False)
    try:
        with store.session() as session:
            group_id = find_group(session, args.group).id if args.group else None
            filters = Filters(
                args.since,
                args.executable,
                args.python,
                args.host,
                status,
                group_id,
                kind=args.kind,
            )
            crashes = [crash_json(c) for c in list_crashes(session, filters, args.limit)]
    finally:
        store.close()
    if args.json:
        print_json(crashes)
        return 0
    if not crashes:
        print("no crashes")
        return 0
    print_table(
        HEADERS,
        [
            (
                c["id"],
                c["status"],
                c["group"],
                c["signal"],
                c["python_version"],
                c["host"],
                short_time(c["received_at"]),
                c["path"],
                c["error"] if c["status"] == "failed" else c["signature"],
            )
            for c in crashes
        ],
        wide=args.wide,
        optional=(6, 4, 5, 3),  # received, python, host, signal
    )
    return 0
