"""``triage remote PID``: the Python stacks of a running process, without running code in it."""

from __future__ import annotations

import argparse
import sys

from ..analysis import analyze_process
from ..errors import UsageError
from ..model import Analysis, FrameKind, replace
from .core import print_analysis
from .options import add_stack_options, pid

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
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
    parser.add_argument("pid", type=pid, help="the pid of the process")
    parser.add_argument(
        "--no-block",
        action="store_true",
        help="do not stop the process while reading it (reads may be inconsistent)",
    )
    add_stack_options(parser)
    parser.add_argument("--json", action="store_true", help="print the JSON document (schema 1)")
    parser.add_argument(
        "--save",
        metavar="SPOOL",
        help="also put this analysis into a watched spool as a hang (no core is written); it "
        "is taken with native stacks and locals, as the pipeline analyzes cores",
    )


def run(args: argparse.Namespace) -> int:
    if args.native_mode is not None and args.no_block:
        raise UsageError("native frames are only available in blocking mode")
    if args.save is not None:
        return _save(args)
    analysis = analyze_process(
        args.pid, block=not args.no_block, locals=args.locals, native_mode=args.native_mode
    )
    return print_analysis(analysis, args)


def _save(args: argparse.Namespace) -> int:
    """Analyze once as the pipeline would (one stop of the process), save that snapshot, and
    print it as the other flags ask (without locals or native frames unless asked for)."""
    from ..render.style import escape
    from ..spool.snapshot import save_snapshot

    if args.no_block:
        raise UsageError("--save needs the process stopped for its native stacks (no --no-block)")
    full = analyze_process(args.pid, block=True, locals=True, native_mode="all")
    path = save_snapshot(full, args.save)
    print(f"triage: saved as {escape(path)}", file=sys.stderr)
    return print_analysis(narrowed(full, args.locals, args.native_mode), args)


def narrowed(analysis: Analysis, locals: bool, native_mode: str | None) -> Analysis:
    """ANALYSIS (taken with locals and every native stack) as the flags would have shown it."""
    threads = []
    for thread in analysis.threads:
        if native_mode != "all" and not thread.python:
            continue
        frames = thread.frames
        if native_mode is None:
            frames = tuple(frame for frame in frames if frame.kind is FrameKind.PYTHON)
        if not locals:
            frames = tuple(replace(frame, arguments=None, locals=None) for frame in frames)
        threads.append(replace(thread, frames=frames))
    return replace(analysis, threads=tuple(threads))
