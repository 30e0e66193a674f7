"""``triage show GROUP``: one group: signature, counts, breakdowns, a stack, latest crashes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..model import Analysis, Frame, FrameKind
from ..render.style import escape
from . import options
from .table import line_fitter, print_json, print_table, short_time

if TYPE_CHECKING:
    from ..store.queries import Facet

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
    options.add_wide(parser)
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
    from ..document import from_json, to_json
    from ..scrub import configured_rules, scrub
    from ..store import open_store
    from ..store.queries import (
        breakdowns,
        crash_json,
        find_group,
        group_json,
        latest,
        representative,
    )

    store = open_store(args.db, create=False)
    try:
        with store.session() as session:
            group = find_group(session, args.group)
            facets = breakdowns(session, {group.id: group.count})[group.id]
            lists = {f"{facet.kind}s": facet.listed for facet in facets}  # python_versions...
            data = group_json(group, group.count, group.first_seen, group.last_seen, lists)
            limit = args.limit or (JSON_CRASHES if args.json else TEXT_CRASHES)
            crashes = [crash_json(c) for c in latest(session, group.id, limit)]
            sample = representative(session, group.id)
            document = sample.analysis if sample is not None else None
            sample_id = sample.id if sample is not None else None
    finally:
        store.close()
    # Stored analyses are scrubbed when recorded; one from an older release is scrubbed here.
    analysis = scrub(from_json(document), configured_rules()) if document else None
    if document is not None and analysis is not None:
        document = to_json(analysis)
    if args.json:
        data["breakdowns"] = {
            facet.kind: {"values": [list(item) for item in facet.values], "unknown": facet.unknown}
            for facet in facets
        }
        data["example_crash"] = sample_id
        print_json({**data, "crashes": crashes, "stack": document})
        return 0
    fitted = line_fitter(sys.stdout, args.wide)
    _print_group(data, facets, fitted)
    _print_stack(analysis, sample_id, fitted)
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
        wide=args.wide,
        optional=(5, 4, 2),  # executable, python, crashed
    )
    if args.explain:
        _explain(group.hashed_text, analysis, args.signature_config)
    return 0


def _print_group(
    data: Mapping[str, Any], facets: Sequence[Facet], fitted: Callable[[str], str]
) -> None:
    print(fitted(f"Group {data['id']}  hash {data['hash']}"))
    print(fitted(f"Signature: {escape(data['signature'])}"))
    status = data["status"] + (f" in {data['resolved_in']}" if data.get("resolved_in") else "")
    print(fitted(f"Kind:      {data['kind']}, {status}"))
    print(
        fitted(
            f"Crashes:   {data['count']}  (first seen {short_time(data['first_seen'])}, "
            f"last seen {short_time(data['last_seen'])})"
        )
    )
    print(fitted(f"Rules:     version {data['rules_version']}"))
    for facet in facets:
        listed = [f"{escape(value)} ({n})" for value, n in facet.values]
        if facet.unknown:
            listed.append(f"unknown ({facet.unknown})")
        print(fitted(f"{facet.title + ':':<17}{', '.join(listed) or '-'}"))


def _print_stack(
    analysis: Analysis | None, crash_id: int | None, fitted: Callable[[str], str]
) -> None:
    from ..stack import crashing_thread

    if analysis is None:
        print("\nNo stored stack.")
        return
    choice = crashing_thread(analysis)
    core = analysis.core
    signal = core.signal_name if core is not None and core.signal else "no signal"
    print(f"\nRepresentative stack (crash {crash_id}, {signal}):")
    if choice.thread is None:
        print("  (no thread has frames)")
        return
    print(fitted(f"  Thread {choice.thread.tid} ({choice.reason.value}), most recent call last:"))
    for frame in choice.thread.frames:
        print(fitted(f"    {_frame_line(frame)}"))


def _frame_line(frame: Frame) -> str:
    """One frame as a traceback line; what is unknown is left out, never printed as None."""
    if frame.kind is FrameKind.PYTHON:
        where = f'File "{escape(frame.file or "???")}"'
        line = f", line {frame.line}" if frame.line is not None else ""
        return f"(Python) {where}{line}, in {escape(frame.function)}"
    place = [f'File "{escape(frame.file)}"'] if frame.file else []
    if frame.file and frame.line is not None:
        place.append(f"line {frame.line}")
    place.append(f"in {escape(frame.function)}")
    library = f" ({escape(frame.library)})" if frame.library else ""
    return f"(C) {', '.join(place)}{library}"


def _explain(hashed: str, analysis: Analysis | None, config_path: str | None) -> None:
    from ..signature import compute, load_config

    print("\nHashed text (sha256 of these lines is the group hash):")
    for line in hashed.splitlines():
        print(f"  {escape(line)}")
    if analysis is not None:
        signature = compute(analysis, load_config(config_path))
        print(f"\nRules {signature.rules_version} applied to the representative stack now:")
        for note in signature.notes:
            print(f"  {escape(note)}")
        if signature.hashed_text != hashed:
            print(
                f"  (these rules would give another signature: {escape(signature.text)};"
                " run `triage resign`)"
            )
