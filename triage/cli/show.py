"""``triage show GROUP``: one group: signature, counts, breakdowns, a stack, latest crashes."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from ..render.style import escape
from . import options
from .table import print_json, print_table, short_time

TEXT_CRASHES = 10  # latest occurrences shown by default
JSON_CRASHES = 100
LATEST_HEADERS = ("id", "status", "crashed", "host", "python", "executable", "path")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "show",
        parents=[common],
        help="show one crash group",
        description="Show a crash group (GROUP: numeric id or signature hash prefix).",
    )
    parser.set_defaults(run=run)
    parser.add_argument("group", metavar="GROUP", help="group id or signature hash prefix")
    options.add_db(parser)
    parser.add_argument(
        "--limit",
        type=options.positive_int,
        default=None,
        metavar="N",
        help=f"latest occurrences shown (default {TEXT_CRASHES}; with --json {JSON_CRASHES})",
    )
    parser.add_argument(
        "--json", action="store_true", help="the group object plus `crashes` and `stack`"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also show the text that was hashed and why each frame counts",
    )
    parser.add_argument(
        "--signature-config",
        metavar="TOML",
        default=None,
        help="rules used by --explain (default: as `resign`)",
    )


def run(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..store.queries import (
        breakdown,
        crash_json,
        find_group,
        group_json,
        latest,
        representative,
    )

    store = open_store(args.db)
    try:
        with store.session() as session:
            group = find_group(session, args.group)
            counts = breakdown(session, group.id)
            facets = {key: sorted(value for value, _ in pairs) for key, pairs in counts.items()}
            data = group_json(group, group.count, group.first_seen, group.last_seen, facets)
            limit = args.limit or (JSON_CRASHES if args.json else TEXT_CRASHES)
            crashes = [crash_json(c) for c in latest(session, group.id, limit)]
            sample = representative(session, group.id)
            stack = sample.analysis if sample is not None else None
            sample_id = sample.id if sample is not None else None
    finally:
        store.close()
    if args.json:
        print_json({**data, "crashes": crashes, "stack": stack})
        return 0
    _print_group(data, counts)
    _print_stack(stack, sample_id)
    print("\nLatest occurrences:")
    print_table(
        LATEST_HEADERS,
        [
            (
                c["id"],
                c["status"],
                short_time(c["crashed_at"]),
                c["host"],
                c["python_version"],
                c["executable"],
                c["path"],
            )
            for c in crashes
        ],
    )
    if args.explain:
        _explain(group.hashed_text, stack, args.signature_config)
    return 0


def _print_group(data: Mapping[str, Any], counts: Mapping[str, Any]) -> None:
    print(f"Group {data['id']}  hash {data['hash']}")
    print(f"Signature: {escape(data['signature'])}")
    print(
        f"Crashes:   {data['count']}  (first seen {short_time(data['first_seen'])}, "
        f"last seen {short_time(data['last_seen'])})"
    )
    print(f"Rules:     version {data['rules_version']}")
    for title, key in (
        ("Python versions", "python_versions"),
        ("Executables", "executables"),
        ("Hosts", "hosts"),
    ):
        listed = ", ".join(f"{escape(value)} ({n})" for value, n in counts[key]) or "-"
        print(f"{title + ':':<17}{listed}")


def _print_stack(stack: Mapping[str, Any] | None, crash_id: int | None) -> None:
    from ..signature.thread import crashing_thread

    if not stack:
        print("\nNo stored stack.")
        return
    thread, why = crashing_thread(stack.get("threads") or [])
    signal = (stack.get("process") or {}).get("signal") or {}
    print(f"\nRepresentative stack (crash {crash_id}, {signal.get('name', 'no signal')}):")
    if thread is None:
        print("  (no thread has frames)")
        return
    print(f"  Thread {thread.get('tid')} ({why}), most recent call last:")
    for frame in thread.get("frames") or []:
        kind = "Python" if frame.get("kind", "python") == "python" else "C"
        line = frame.get("line")
        where = f", line {line}" if line is not None else ""
        print(
            f'    ({kind}) File "{escape(str(frame.get("file")))}"{where}, '
            f"in {escape(str(frame.get('function')))}"
        )


def _explain(hashed: str, stack: Mapping[str, Any] | None, config_path: str | None) -> None:
    from ..signature import compute, load_config

    print("\nHashed text (sha256 of these lines is the group hash):")
    for line in hashed.splitlines():
        print(f"  {escape(line)}")
    if stack:
        signature = compute(stack, load_config(config_path))
        print(f"\nRules {signature.rules_version} applied to the representative stack now:")
        for note in signature.notes:
            print(f"  {escape(note)}")
        if signature.hashed_text != hashed:
            print(
                f"  (these rules would give another signature: {escape(signature.text)};"
                " run `triage resign`)"
            )
