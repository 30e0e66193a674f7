"""``triage report [--db URL] --out DIR [--no-locals]``: render the static HTML site."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``report`` subcommand; jinja2 and SQLAlchemy are imported only when it runs."""
    parser = commands.add_parser(
        "report",
        parents=[common],
        help="render the crash database as a static HTML site",
        description="Render an index of crash groups, a page per group and a page per crash.",
    )
    parser.set_defaults(run=run)
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="database URL (default: $TRIAGE_DB or ./triage.db)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=os.environ.get("TRIAGE_REPORTS") or None,
        required=not os.environ.get("TRIAGE_REPORTS"),
        help="directory to write the site to (default: $TRIAGE_REPORTS)",
    )
    parser.add_argument(
        "--no-locals",
        action="store_true",
        help="leave local variable values out of every page (they can hold secrets)",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: `triage core` must not pay for SQLAlchemy and jinja2 at start-up.
    from ..report.build import render_all
    from ..store import open_store

    store = open_store(args.db, create=False)
    try:
        stats = render_all(store, args.out, no_locals=args.no_locals)
    finally:
        store.close()
    print(
        f"{stats.written} pages written, {stats.unchanged} unchanged, {stats.removed} removed "
        f"in {stats.seconds:.1f} s: {os.path.join(args.out, 'index.html')}",
        file=sys.stderr,
    )
    return 0
