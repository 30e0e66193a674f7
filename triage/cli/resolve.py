"""``triage resolve GROUP [--in RELEASE]``: mark a group fixed; a later crash reopens it."""

from __future__ import annotations

import argparse
from typing import Any

from . import options


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "resolve",
        parents=[common],
        help="mark a crash group resolved (it regresses when it crashes again)",
        description="Mark a group resolved. With --in RELEASE, a crash from that release or a "
        "later one (compared as versions) makes it `regressed`; older releases still running "
        "do not. Without it, any crash that happens after now does.",
    )
    parser.set_defaults(run=run)
    parser.add_argument("group", metavar="GROUP", help="group id or signature hash prefix")
    parser.add_argument("--in", dest="release", metavar="RELEASE", help="the release with the fix")
    parser.add_argument(
        "--undo", action="store_true", help="back to new: the group is not resolved after all"
    )
    options.add_db(parser)


def run(args: argparse.Namespace) -> int:
    from ..render.style import escape
    from ..store import open_store
    from ..store.models import NEW, RESOLVED, utcnow
    from ..store.queries import find_group

    store = open_store(args.db, create=False)
    try:
        with store.session() as session:
            group = find_group(session, args.group)
            if args.undo:
                group.status, group.resolved_in, group.resolved_at = NEW, None, None
            else:
                group.status, group.resolved_in = RESOLVED, args.release
                group.resolved_at = utcnow()
            group_id, status, signature = group.id, group.status, group.signature
    finally:
        store.close()
    where = f" in {escape(args.release)}" if args.release and not args.undo else ""
    print(f"group {group_id} {status}{where}: {escape(signature)}")
    return 0
