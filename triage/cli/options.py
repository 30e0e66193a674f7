"""Options shared by the pipeline and query commands (no SQLAlchemy here: `core` imports us)."""

from __future__ import annotations

import argparse
import os
import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:  # `triage core` imports this module: socket and datetime only when used
    from datetime import datetime

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdwy])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
# Numbers a user types: beyond these they are typing mistakes, and the database (64-bit
# integers) or the kernel (pids) could not take them anyway.
MAX_COUNT = 10**9
MAX_ID = 2**63 - 1


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    """What `core` and `remote` show, with PyStack's flag names."""
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
        "--no-scrub",
        action="store_true",
        help="show secret-looking values too (passwords, tokens, credentials in URLs); by "
        "default they are [redacted], as everywhere coretriage stores or shows an analysis",
    )
    parser.add_argument(
        "--exhaustive", action="store_true", help="use every method to find the interpreter"
    )


def add_db(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: $TRIAGE_DB, else the file of $TRIAGE_DB_FILE, "
        "else sqlite:///./triage.db)",
    )
    # A URL on the command line (with its password) is visible to every user in ps.
    where.add_argument(
        "--db-file",
        metavar="PATH",
        dest="db",
        type=db_file,
        help="read the database URL from PATH (first line), a file only its owner may read",
    )


def db_file(path: str) -> str:
    """The URL in PATH, read when the options are parsed: a bad file is a usage error."""
    from ..errors import StoreError
    from ..store.engine import read_url_file

    try:
        return read_url_file(path)
    except StoreError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def add_host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        metavar="NAME",
        default=None,
        help="host recorded with each crash whose sidecar names none (default: $TRIAGE_HOST, "
        "else this machine's host name)",
    )


def host_name(args: argparse.Namespace) -> str:
    import socket

    return args.host or os.environ.get("TRIAGE_HOST") or socket.gethostname()


def add_reports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reports",
        metavar="DIR",
        default=None,
        help="where the HTML report is kept up to date (default: $TRIAGE_REPORTS, "
        "else ./triage-reports)",
    )

    parser.add_argument(
        "--no-report",
        action="store_true",
        help="do not update the HTML report (e.g. when a separate job runs `triage report`)",
    )


def reports_dir(args: argparse.Namespace) -> str | None:
    if args.no_report:
        return None
    return args.reports or os.environ.get("TRIAGE_REPORTS") or "./triage-reports"


def add_analysis_limits(parser: argparse.ArgumentParser) -> None:
    """How `ingest` and `watch` analyze: workers, their limits, libraries, signature rules."""
    from ..spool.limits import DEFAULT_MEMORY_LIMIT_MB, DEFAULT_TIME_LIMIT

    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="analysis processes (default: the number of CPUs)",
    )
    parser.add_argument(
        "--lib-search-root",
        metavar="DIR",
        default=None,
        help="directory searched recursively for the shared libraries of the cores",
    )
    parser.add_argument(
        "--time-limit",
        metavar="SECONDS",
        type=positive_float,
        default=DEFAULT_TIME_LIMIT,
        help=f"analysis time limit per core (default {DEFAULT_TIME_LIMIT:g})",
    )
    parser.add_argument(
        "--memory-limit",
        metavar="MB",
        type=positive_int,
        default=DEFAULT_MEMORY_LIMIT_MB,
        help=f"memory per analysis beyond the core's size (default {DEFAULT_MEMORY_LIMIT_MB})",
    )
    parser.add_argument(
        "--signature-config",
        metavar="TOML",
        default=None,
        help="signature rules (default: $TRIAGE_SIGNATURE_CONFIG, else the bundled rules)",
    )


def add_wide(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wide", action="store_true", help="never shorten the table to the terminal's width"
    )


def add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=since, metavar="AGE", help="an age (30m, 12h, 7d, 2w, 1y) or an ISO date"
    )
    parser.add_argument("--executable", metavar="NAME", help="executable name or path")
    parser.add_argument("--python", metavar="VERSION", help="Python version, e.g. 3.12")
    parser.add_argument("--host", metavar="HOST", help="host of the crash (from the sidecar)")


def since(value: str) -> datetime:
    """``7d`` (an age: s, m, h, d, w, y) or an ISO date/time, as an aware UTC datetime."""
    from datetime import datetime, timedelta, timezone

    match = _SPAN.match(value.strip())
    now = datetime.now(timezone.utc)
    if match:
        amount, unit = match.groups()
        seconds = float(amount) * _SECONDS[unit]
        if seconds > (now - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds():
            return datetime(1970, 1, 1, tzinfo=timezone.utc)  # "since forever"
        return now - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither an age (30m, 12h, 7d, 2w, 1y) nor an ISO date (2024-05-01)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def positive_int(value: str, maximum: int = MAX_COUNT) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    if number > maximum:
        raise argparse.ArgumentTypeError(f"{value} is too large (at most {maximum})")
    return number


def pid(value: str) -> int:
    """A process id: positive and at most the kernel's largest (PID_MAX_LIMIT)."""
    return positive_int(value, 1 << 22)


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    if number > MAX_COUNT:  # inf, or a duration of decades
        raise argparse.ArgumentTypeError(f"{value} is too large (at most {MAX_COUNT})")
    return number
