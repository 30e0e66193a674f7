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


def run(args: argparse.Namespace) -> int:
    from ..signature import compute, load_config
    from ..store import open_store
    from ..store.grouping import resign

    config = load_config(args.signature_config)
    store = open_store(args.db)
    try:
        crashes, groups = resign(store, lambda document: compute(document, config))
    finally:
        store.close()
    print(f"recomputed {crashes} signature(s): {groups} group(s)")
    return 0
