"""``triage core CORE [EXECUTABLE]``: the Python stacks of a core file, as text or JSON."""

from __future__ import annotations

import argparse
import os
import stat
import sys

from ..analysis import NO_PYTHON_HELP, analyze_core
from ..errors import AnalysisFailed, InputError
from ..model import Analysis, replace
from ..render.style import color_enabled, escape
from ..render.text import write_text
from .options import add_stack_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

MAX_LISTED_LIBRARIES = 10


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``core`` subcommand; its flags follow PyStack's ``pystack core``."""
    parser = commands.add_parser(
        "core",
        parents=[common],
        help="analyze a core dump file given its location and, optionally, the executable",
        description="Print the Python stack of every thread of a core file.",
    )
    parser.set_defaults(run=run)
    parser.add_argument("core", help="the path to the core file")
    parser.add_argument(
        "executable", nargs="?", default=None, help="the executable of the core (default: from it)"
    )
    add_stack_options(parser)
    search = parser.add_mutually_exclusive_group()
    search.add_argument(
        "--lib-search-path",
        metavar="P1:P2",
        help="directories (separated by ':') to search for the shared libraries of the core",
    )
    search.add_argument(
        "--lib-search-root",
        metavar="DIR",
        type=_readable_directory,
        help="directory searched recursively for the shared libraries of the core",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON document (schema 1)")


def run(args: argparse.Namespace) -> int:
    """Analyze the core, print it, and fail (after the header) when no Python was found."""
    # --exhaustive is accepted for PyStack compatibility: the extension always tries every
    # method it has to find the interpreter, so there is nothing to switch on.
    core = _check_file(args.core, "Core")
    executable = _check_file(args.executable, "Executable") if args.executable else None
    search_path = (
        [p for p in args.lib_search_path.split(":") if p] if args.lib_search_path else None
    )

    analysis = analyze_core(
        core, executable, search_path, args.lib_search_root, args.locals, args.native_mode
    )
    return print_analysis(analysis, args)


def print_analysis(analysis: Analysis, args: argparse.Namespace) -> int:
    """Print as text or JSON; fail (after printing what there is) when no Python was found."""
    if not args.no_scrub:
        from ..scrub import configured_rules, scrub

        analysis = scrub(analysis, configured_rules())
    failure = failure_reason(analysis)
    if failure is not None and analysis.warnings:
        # The error stays one line: what went wrong before (a truncated core) leads it.
        failure = "; ".join((*analysis.warnings, failure))
    _tolerate_unencodable(sys.stdout)
    if args.json:
        from ..document import write_json  # json is only imported when asked for

        write_json(replace(analysis, error=failure), sys.stdout)
    else:
        color = color_enabled(sys.stdout, args.no_color)
        write_text(analysis, sys.stdout, sys.stderr, color, show_warnings=failure is None)
    if failure is not None:
        raise AnalysisFailed(failure, help=_failure_help(analysis))
    return 0


def failure_reason(analysis: Analysis) -> str | None:
    """Why there are no Python stacks to show, or None when the analysis succeeded."""
    if analysis.python_version is None:
        return analysis.python_error or f"no Python interpreter found in {analysis.source.path}"
    if not analysis.threads and analysis.python_error:
        return analysis.python_error
    return None


def _failure_help(analysis: Analysis) -> str:
    missing = analysis.missing_libraries
    if not missing:
        return NO_PYTHON_HELP
    listed = "\n".join(f"  {escape(path)}" for path in missing[:MAX_LISTED_LIBRARIES])
    more = len(missing) - MAX_LISTED_LIBRARIES
    if more > 0:
        listed += f"\n  ... and {more} more"
    return f"{NO_PYTHON_HELP}\nFiles mapped by the process but missing here:\n{listed}"


def _check_file(path: str, what: str) -> str:
    """Exit 3 before any analysis when the file is missing, unreadable or not a regular file."""
    try:
        # O_NONBLOCK: a FIFO given by mistake must fail here, not hang.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(f"{what} {escape(path)} does not exist") from None
    except PermissionError:
        raise InputError(f"{what} {escape(path)} is not readable: permission denied") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"{what} {escape(path)} cannot be opened: {reason}") from None
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} {escape(path)} is a directory")
    if not stat.S_ISREG(mode):
        raise InputError(f"{what} {escape(path)} is not a regular file")
    return path


def _readable_directory(value: str) -> str:
    path = os.path.expanduser(value)
    if not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{value} is not a valid path")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{value} is not a readable directory")
    return path


def warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)


def _tolerate_unencodable(stream: Any) -> None:
    # Names from a core are arbitrary Unicode; on a non-UTF-8 terminal print escapes, not crash.
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None and getattr(stream, "errors", None) == "strict":
        try:
            reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass
