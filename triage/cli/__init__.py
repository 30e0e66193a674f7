"""Command line: the parser of every subcommand, and ``main``, which maps errors to exit codes."""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from ..errors import EXIT_ANALYSIS_FAILED, EXIT_OK, EXIT_USAGE, TriageError
from ..render.style import escape

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, NoReturn, TextIO

# One module per subcommand, in help order. Only the module of the command being run is
# imported (plus all of them for `triage --help`): `triage core` must start fast, and the
# pipeline commands pull in SQLAlchemy, json, pathlib and more. `merge` and `split` share one.
MODULES = {"split": "merge"}
COMMANDS = (
    "core",
    "remote",
    "ingest",
    "watch",
    "collect",
    "groups",
    "show",
    "crashes",
    "resign",
    "resolve",
    "merge",
    "split",
    "retention",
    "demo",
    "report",
    "completion",
)


# Commands that analyze once and exit: the collector stays off for their whole (short) run.
SHORT_LIVED = frozenset({"core", "remote"})
# Commands that leave without tearing the interpreter down once their work is done and their
# database closed: freeing the heap of a large `ingest` took a third of a second.
EXIT_AT_ONCE = SHORT_LIVED | {"ingest"}

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader (e.g. `head`) went away


class _Version(argparse.Action):
    """``--version``, computing the version only when asked (importlib.metadata is slow)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from .. import _version

        print(f"{parser.prog} {_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def _columns() -> int:
    """shutil.get_terminal_size's width ($COLUMNS, else the terminal's, else 80), without
    importing shutil (and the compression modules it imports) to build a parser."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help format, its width found without shutil."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _columns() - 2  # as argparse does with shutil's width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """The parser of ``triage`` and (through add_subparsers) of every subcommand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def _commands_needed(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The subcommand named on the command line, or every one (help, errors, tests)."""
    words = [word for word in (sys.argv[1:] if argv is None else argv) if not word.startswith("-")]
    if words and words[0] in COMMANDS:
        return (words[0],)
    return COMMANDS


def build_parser(argv: Sequence[str] | None = ()) -> argparse.ArgumentParser:
    """The ``triage`` parser; ``-v`` and ``--no-color`` work before or after the subcommand."""
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more detail on errors")
    common.add_argument("--no-color", action="store_true", help="never use colours")
    parser = _Parser(
        prog="triage",
        description="Python stacks (PyStack-compatible) from core files of Python processes.",
    )
    # Distinct dests: a subparser's defaults would otherwise overwrite the global values.
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, dest="global_verbose", help="more detail"
    )
    parser.add_argument(
        "--no-color", action="store_true", dest="global_no_color", help="never use colours"
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    modules = dict.fromkeys(MODULES.get(name, name) for name in _commands_needed(argv))
    for module in modules:
        importlib.import_module(f".{module}", __name__).register(commands, common)
    return parser


def main(argv: list[str] | None = None, *, collect: bool | None = None) -> int:
    """Run the command line and return its exit code (``sys.exit(main())``).

    COLLECT: whether the garbage collector runs for the long-running commands (None: it does
    when it is on now).
    """
    # Importing and building the parser allocate many objects and no garbage: without the
    # collector passing over them again and again, start-up is shorter. `core` and `remote`
    # analyze once and exit: the collector stays off for them; other commands get it back.
    collecting = gc.isenabled() if collect is None else collect
    gc.disable()
    try:
        return _main(argv, collecting)
    finally:
        if collecting:
            gc.enable()


def exits_at_once(argv: Sequence[str] | None = None) -> bool:
    """The command line runs one of the commands that leave with ``exit_now``."""
    needed = _commands_needed(argv)
    return len(needed) == 1 and needed[0] in EXIT_AT_ONCE


def exit_now(code: int) -> NoReturn:
    """Leave without tearing the interpreter down (its last collection, every module freed:
    about a tenth of `triage core`'s time): only the output is left to flush."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_BROKEN_PIPE
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _main(argv: list[str] | None, collecting: bool) -> int:
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return _code_of(exc)
    if collecting and args.command not in SHORT_LIVED:
        gc.enable()
    args.verbose = max(args.verbose, args.global_verbose)
    args.no_color = args.no_color or args.global_no_color
    try:
        return int(args.run(args))
    except TriageError as exc:
        _report(sys.stderr, exc.message, exc.help if args.verbose else None)
        return exc.exit_code
    except KeyboardInterrupt:
        print("triage: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # never a bare traceback: one line, the traceback only with -v
        if args.verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        _report(sys.stderr, f"unexpected {type(exc).__name__}: {exc}", None)
        return EXIT_ANALYSIS_FAILED


def _report(stream: TextIO, message: str, help: str | None) -> None:
    # One line whatever the message holds: it may quote paths or names taken from a core.
    one_line = escape(" ".join(message.splitlines()))
    print(f"triage: error: {one_line}", file=stream)
    if help:
        print(help.rstrip("\n"), file=stream)


def _code_of(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    return EXIT_USAGE


def _silence_stdout() -> None:
    # Python flushes stdout again at exit and would print "Exception ignored ... BrokenPipe".
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
