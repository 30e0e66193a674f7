"""``triage watch SPOOL...``: ingest every core dropped into the spools, until stopped."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import UsageError
from ..spool import coredump
from . import options


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "watch",
        parents=[common],
        help="watch spool directories and ingest every core dropped there",
        description="Watch spool directories (recursively): the backlog is ingested first, then "
        "every core once its writer has finished. SIGTERM or SIGINT stops cleanly; work in "
        "flight is resumed on the next start. Cores are never moved or deleted.",
    )
    parser.set_defaults(run=run)
    parser.add_argument("spools", nargs="*", metavar="SPOOL", help="directories to watch")
    parser.add_argument(
        "--settle",
        type=options.positive_float,
        default=5.0,
        metavar="SECONDS",
        help="how long a file seen without a close event must stay unchanged (default 5)",
    )
    parser.add_argument(
        "--rescan",
        type=options.positive_float,
        default=60.0,
        metavar="SECONDS",
        help="full rescan period, in case file events were lost (default 60)",
    )
    options.add_db(parser)
    options.add_host(parser)
    options.add_reports(parser)
    options.add_analysis_limits(parser)
    coredump.add_option(parser, "watch")
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per event on stdout (time, event, crash, path, group...) instead "
        "of timestamped lines on stderr",
    )


def run(args: argparse.Namespace) -> int:
    if args.systemd_coredump:
        args.spools = [*args.spools, args.systemd_coredump]
    if not args.spools:
        raise UsageError("give at least one SPOOL, or --systemd-coredump")
    from ..signature import load_config
    from ..spool.events import JsonLog, TextLog
    from ..spool.pipeline import Pipeline
    from ..spool.pool import WorkerPool
    from ..spool.watcher import Watcher, WatchOptions, check_spools
    from ..store import open_store

    check_spools(args.spools)  # before anything starts: a typo fails at once
    config = load_config(args.signature_config)
    store = open_store(args.db)
    pool = WorkerPool(
        args.workers or os.cpu_count() or 1,
        args.time_limit,
        args.memory_limit,
        args.lib_search_root,
        config=config,
    )
    try:
        with pool:
            log = JsonLog() if args.json else TextLog()
            pipeline = Pipeline(store, pool, config, options.reports_dir(args), log)
            watcher = Watcher(
                args.spools,
                pipeline,
                WatchOptions(args.settle, args.rescan),
                log,
                host=options.host_name(args),
            )
            watcher.install_signal_handlers()
            watcher.run()
    finally:
        store.close()
    return 0
