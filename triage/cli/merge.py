"""``triage merge TARGET GROUP...`` and ``triage split GROUP``: grouping decided by hand.

Both are kept as rules in the database, so `triage resign` applies them again.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import options


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    merge = commands.add_parser(
        "merge",
        parents=[common],
        help="merge crash groups that are one bug into TARGET",
        description="Move every crash of each GROUP into TARGET, now and for every future crash "
        "with the same signatures (the rule survives `triage resign`).",
    )
    merge.set_defaults(run=run_merge)
    merge.add_argument("target", metavar="TARGET", help="the group that stays")
    merge.add_argument("groups", nargs="+", metavar="GROUP", help="groups merged into TARGET")
    options.add_db(merge)
    split = commands.add_parser(
        "split",
        parents=[common],
        help="undo merges: give each signature of a group its own group again",
        description="Give the crashes of GROUP whose own signature is not the group's their own "
        "groups again, and drop the merge rules that put them there.",
    )
    split.set_defaults(run=run_split)
    split.add_argument("group", metavar="GROUP", help="group id or signature hash prefix")
    options.add_db(split)


def run_merge(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..store import open_store
    from ..store.manual import merge_groups
    from ..store.queries import find_group

    store = open_store(args.db, create=False)
    try:
        with store.session() as session:
            target = find_group(session, args.target)
            sources = [find_group(session, key) for key in args.groups]
            if any(source.id == target.id for source in sources):
                raise UsageError("a group cannot be merged into itself")
            moved = merge_groups(session, target, sources)
            target_id = target.id
    finally:
        store.close()
    print(f"merged {len(sources)} group(s) into group {target_id}: {moved} crash(es) moved")
    return 0


def run_split(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..store.manual import split_group
    from ..store.queries import find_group

    store = open_store(args.db, create=False)
    try:
        with store.session() as session:
            group = find_group(session, args.group)
            created = split_group(session, group)
            group_id = group.id
    finally:
        store.close()
    if not created:
        print(f"group {group_id} holds one signature only: nothing to split")
    else:
        listed = ", ".join(str(g) for g in created)
        print(f"split group {group_id}: its other signatures are now group(s) {listed}")
    return 0
