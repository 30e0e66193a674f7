"""``triage remote PID``: the Python stacks of a running process, without running code in it."""

from __future__ import annotations

import argparse

from ..analysis import analyze_process
from ..errors import UsageError
from .core import print_analysis

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: see triage.model
if TYPE_CHECKING:
    from typing import Any


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
    parser.add_argument("pid", type=_pid, help="the pid of the process")
    parser.add_argument(
        "--no-block",
        action="store_true",
        help="do not stop the process while reading it (reads may be inconsistent)",
    )
    native = parser.add_mutually_exclusive_group()
    for flag, mode, text in (
        ("--native", "native", "include the native (C) frames"),
        ("--native-all", "all", "also native frames of threads without Python (implies --native)"),
        ("--native-last", "last", "native frames only after the last Python frame"),
    ):
        native.add_argument(
            flag, action="store_const", dest="native_mode", const=mode, default=None, help=text
        )
    parser.add_argument("--locals", action="store_true", help="show the local variables")
    parser.add_argument(
        "--exhaustive", action="store_true", help="use every method to find the interpreter"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON document (schema 1)")


def run(args: argparse.Namespace) -> int:
    if args.native_mode is not None and args.no_block:
        raise UsageError("native frames are only available in blocking mode")
    analysis = analyze_process(
        args.pid, block=not args.no_block, locals=args.locals, native_mode=args.native_mode
    )
    return print_analysis(analysis, args)


def _pid(value: str) -> int:
    try:
        pid = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a process id") from None
    if pid <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a process id")
    return pid
