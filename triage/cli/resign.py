"""``triage resign``: recompute every signature from the stored stacks (no re-analysis)."""

from __future__ import annotations

import argparse
from typing import Any

from . import options


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "resign",
        parents=[common],
        help="recompute signatures and groups from the stored stacks",
        description="Re-apply the signature rules (bundled, or --signature-config) to every "
        "stored analysis. Groups whose signature is unchanged keep their id.",
    )
    parser.set_defaults(run=run)
    options.add_db(parser)
    parser.add_argument(
        "--signature-config",
        metavar="TOML",
        default=None,
        help="signature rules (default: $TRIAGE_SIGNATURE_CONFIG, else the bundled rules)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing: print which groups would merge or split and how many crashes move",
    )


def run(args: argparse.Namespace) -> int:
    from ..render.style import escape
    from ..signature import compute, load_config
    from ..store import open_store
    from ..store.grouping import resign

    config = load_config(args.signature_config)
    store = open_store(args.db, create=False)
    try:
        report = resign(store, lambda analysis: compute(analysis, config), args.dry_run)
    finally:
        store.close()
    would = "would " if args.dry_run else ""
    for title, sources, moved in report.merges.values():
        ids = ", ".join(str(g) for g in sorted(sources))
        print(f"{would}merge groups {ids} into: {escape(title)} ({moved} crash(es) move)")
    for group_id, hashes in sorted(report.splits.items()):
        print(f"{would}split group {group_id} into {len(hashes)} groups")
    verb = "would recompute" if args.dry_run else "recomputed"
    print(
        f"{verb} {report.crashes} signature(s): {report.groups} group(s), "
        f"{report.moved} crash(es) {would}change group"
    )
    return 0
