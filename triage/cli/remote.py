"""``triage remote PID``: the Python stacks of a running process, without running code in it."""

from __future__ import annotations

import argparse
from typing import Any

from ..analysis import analyze_process
from ..errors import UsageError
from .core import print_analysis
from .options import add_stack_options, positive_int


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``remote`` subcommand; its flags follow PyStack's ``pystack remote``."""
    parser = commands.add_parser(
        "remote",
        parents=[common],
        help="analyze a running process given its pid",
        description="Print the Python stack of every thread of a running process. The process "
        "is stopped only while its memory is read (never with --no-block); nothing is written "
        "to it and no code runs in it.",
    )
    parser.set_defaults(run=run)
    parser.add_argument("pid", type=positive_int, help="the pid of the process")
    parser.add_argument(
        "--no-block",
        action="store_true",
        help="do not stop the process while reading it (reads may be inconsistent)",
    )
    add_stack_options(parser)
    parser.add_argument("--json", action="store_true", help="print the JSON document (schema 1)")


def run(args: argparse.Namespace) -> int:
    if args.native_mode is not None and args.no_block:
        raise UsageError("native frames are only available in blocking mode")
    analysis = analyze_process(
        args.pid, block=not args.no_block, locals=args.locals, native_mode=args.native_mode
    )
    return print_analysis(analysis, args)
