"""``triage report [--db URL] [--out DIR] [--no-locals]``: render the static HTML site."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from . import options


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``report`` subcommand; jinja2 and SQLAlchemy are imported only when it runs."""
    parser = commands.add_parser(
        "report",
        parents=[common],
        help="render the crash database as a static HTML site",
        description="Render an index of crash groups, a page per group and a page per crash.",
    )
    parser.set_defaults(run=run)
    options.add_db(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="directory to write the site to (default: $TRIAGE_REPORTS, else ./triage-reports)",
    )
    parser.add_argument(
        "--signature-config",
        metavar="TOML",
        default=None,
        help="the rules file (default: $TRIAGE_SIGNATURE_CONFIG): its app_roots are the only "
        "places source lines are shown from",
    )
    parser.add_argument(
        "--json", action="store_true", help="print what was rendered as a JSON object"
    )
    parser.add_argument(
        "--no-locals",
        action="store_true",
        help="leave local variable values out of every page (they can hold secrets)",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: `triage core` must not pay for SQLAlchemy and jinja2 at start-up.
    from ..report.build import render_all
    from ..signature import load_config
    from ..store import open_store

    out = args.out or os.environ.get("TRIAGE_REPORTS") or "./triage-reports"
    store = open_store(args.db, create=False)
    try:
        roots = load_config(args.signature_config).app_roots
        stats = render_all(store, out, no_locals=args.no_locals, source_roots=roots)
    finally:
        store.close()
    index = os.path.join(out, "index.html")
    if args.json:
        import json

        summary = {
            "index": index,
            "written": stats.written,
            "unchanged": stats.unchanged,
            "removed": stats.removed,
            "seconds": round(stats.seconds, 3),
        }
        print(json.dumps(summary))
        return 0
    print(
        f"{stats.written} pages written, {stats.unchanged} unchanged, {stats.removed} removed "
        f"in {stats.seconds:.1f} s: {index}",
        file=sys.stderr,
    )
    return 0
