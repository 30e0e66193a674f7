"""``triage collect``: the core_pattern pipe handler, and its --install, --apply, --uninstall."""

from __future__ import annotations

import argparse
import sys

from ..errors import EXIT_OK, InputError, UsageError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "collect",
        parents=[common],
        help="core_pattern pipe handler: write the kernel's core and a sidecar into a spool",
        description="Run by the kernel as `|/path/to/triage collect SPOOL %P %i %s %t %h %E` "
        "with the core on stdin: the core is written into SPOOL atomically with a "
        "CORE.json sidecar, within the configured limits, and one line is logged to "
        "SPOOL/.coretriage/collect.log. It always exits 0. With --install it prints the "
        "core_pattern line; --apply also writes it to the kernel, --uninstall restores.",
    )
    parser.set_defaults(run=run)
    parser.add_argument("spool", metavar="SPOOL", help="the spool directory a watcher reads")
    parser.add_argument(
        "crash",
        nargs="*",
        metavar="PID TID SIGNAL TIME HOST EXE",
        help="the kernel's %%P %%i %%s %%t %%h %%E",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--install",
        action="store_true",
        help="print the core_pattern line and core_pipe_limit for SPOOL",
    )
    mode.add_argument(
        "--uninstall", action="store_true", help="restore the settings --apply replaced"
    )
    parser.add_argument(
        "--apply", action="store_true", help="with --install: write them to /proc/sys/kernel"
    )
    parser.add_argument("--config", metavar="TOML", help="settings (default: see docs/collect.md)")
    parser.add_argument("--compress", choices=("zstd", "none"), help="compress cores (zstd)")
    parser.add_argument("--max-size", metavar="SIZE", help="largest core kept, e.g. 4G")
    parser.add_argument("--min-free", metavar="SIZE", help="free space kept on the spool's disk")
    parser.add_argument("--rate-limit", type=int, metavar="N", help="cores per executable...")
    parser.add_argument(
        "--rate-window", type=float, metavar="SECONDS", help="...within this period"
    )
    parser.add_argument("--time-limit", type=float, metavar="SECONDS", help="for one crash")
    parser.add_argument("--group", metavar="GROUP", help="group owning the files (mode 0640)")


def run(args: argparse.Namespace) -> int:
    if args.install or args.uninstall:
        return _install(args)
    if args.apply:
        raise UsageError("--apply goes with --install")
    if sys.stdin is not None and sys.stdin.isatty():
        raise UsageError("the core comes on stdin, from the kernel: see --install")
    from ..collect import handler
    from ..collect.config import CollectConfig, ConfigError, load, parse_size

    crash = handler.parse(args.spool, args.crash)
    note = None
    try:
        overrides = {
            "compress": args.compress,
            "max_core_size": parse_size(args.max_size) if args.max_size else None,
            "min_free": parse_size(args.min_free) if args.min_free else None,
            "rate_limit": args.rate_limit,
            "rate_window": args.rate_window,
            "time_limit": args.time_limit,
            "group": args.group,
        }
        config = load(args.spool, args.config, overrides)
    except (ConfigError, ValueError) as exc:
        # A broken configuration must not cost the core: collect with the defaults, and say so.
        config, note = CollectConfig(), f"configuration ignored: {exc}"
    try:
        handler.run(crash, config, note=note)
    except Exception as exc:  # noqa: BLE001 - run() logs everything itself; this is the last resort
        import syslog

        syslog.syslog(syslog.LOG_ERR, f"triage collect: unexpected {type(exc).__name__}: {exc}")
    return EXIT_OK


def _install(args: argparse.Namespace) -> int:
    import os

    from ..collect import install

    if args.crash:
        raise UsageError("--install and --uninstall take only SPOOL")
    try:
        if args.uninstall:
            restored = install.uninstall(args.spool)
            print(f"core_pattern = {restored.core_pattern}")
            print(f"core_pipe_limit = {restored.core_pipe_limit}")
            return EXIT_OK
        if not os.path.isdir(args.spool):
            raise InputError(f"spool {args.spool} is not a directory")
        settings = install.wanted(args.spool)
        if args.apply:
            before = install.apply(args.spool, settings)
            print(
                f"# replaced: {before.core_pattern} (core_pipe_limit {before.core_pipe_limit})",
                file=sys.stderr,
            )
    except install.InstallError as exc:
        raise InputError(str(exc)) from None
    print(f"kernel.core_pattern = {settings.core_pattern}")
    print(f"kernel.core_pipe_limit = {settings.core_pipe_limit}")
    return EXIT_OK
