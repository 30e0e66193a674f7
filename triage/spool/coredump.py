"""Cores stored by systemd-coredump: their names and ``user.coredump.*`` extended attributes.

systemd-coredump keeps each core as ``core.COMM.UID.BOOTID.PID.TIME[.zst|.lz4|.xz]`` (TIME in
microseconds) in /var/lib/systemd/coredump, written to an unnamed file and linked into place
when complete, and puts what it knows of the crash in extended attributes of that file. The
intake turns these into the crash's context under the same keys a sidecar uses (host,
executable, pid, signal, time...), so both kinds of crashes are queried alike.
"""

from __future__ import annotations

import os
import re
from typing import Any

DEFAULT_DIRECTORY = "/var/lib/systemd/coredump"
XATTR_PREFIX = "user.coredump."
MAX_ATTRIBUTE_BYTES = 64 << 10
NAME = re.compile(
    r"^core\.(?P<comm>.+)\.(?P<uid>\d+)\.(?P<boot_id>[0-9a-f]{32})\.(?P<pid>\d+)"
    r"\.(?P<timestamp>\d+)(?:\.(?P<compression>zst|lz4|xz))?$"
)
_NUMBERS = ("pid", "uid", "gid", "signal", "rlimit")


def parse_name(name: str) -> dict[str, Any] | None:
    """The facts in a systemd-coredump file name, or None if NAME is not one."""
    match = NAME.match(name)
    if match is None:
        return None
    return {
        "comm": match["comm"],
        "uid": int(match["uid"]),
        "boot_id": match["boot_id"],
        "pid": int(match["pid"]),
        "time": _seconds(match["timestamp"]),
        "compression": match["compression"],
    }


def read_attributes(target: int | str) -> dict[str, str]:
    """The ``user.coredump.*`` attributes of TARGET (a descriptor, preferably) as text."""
    try:
        names = os.listxattr(target)
    except OSError:  # no xattr support on this file system, or none set
        return {}
    found: dict[str, str] = {}
    for name in names:
        if not name.startswith(XATTR_PREFIX):
            continue
        try:
            value = os.getxattr(target, name)
        except OSError:
            continue
        text = value[:MAX_ATTRIBUTE_BYTES].rstrip(b"\0").decode("utf-8", "backslashreplace")
        found[name[len(XATTR_PREFIX) :]] = text
    return found


def metadata(path: str, target: int | str) -> dict[str, Any] | None:
    """The context of a systemd-coredump core (None if PATH is not named like one)."""
    facts = parse_name(os.path.basename(path))
    if facts is None:
        return None
    attributes = read_attributes(target)
    context: dict[str, Any] = {"collector": "systemd-coredump", **facts}
    for key in _NUMBERS:
        if attributes.get(key, "").strip().isdigit():
            context[key] = int(attributes[key])
    if attributes.get("timestamp", "").strip().isdigit():
        context["time"] = _seconds(attributes["timestamp"])
    for key, target_key in (("hostname", "host"), ("exe", "executable"), ("comm", "comm")):
        if attributes.get(key):
            context[target_key] = attributes[key]
    for key in ("cmdline", "unit", "user_unit", "slice", "cgroup"):
        if attributes.get(key):
            context[key] = attributes[key]
    if isinstance(context.get("signal"), int):
        from ..model import signal_name

        context["signal_name"] = signal_name(context["signal"])
    if attributes:
        context["coredump"] = attributes  # every attribute as systemd wrote it
    return context


def cores(directory: str) -> list[str]:
    """The systemd-coredump cores in DIRECTORY, oldest first (``triage ingest``)."""
    from ..errors import SpoolError

    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        raise SpoolError(f"cannot read {directory}: {exc.strerror or exc}") from None
    found = [entry for entry in entries if NAME.match(entry.name)]
    found.sort(key=lambda entry: (parse_name(entry.name) or {}).get("time") or 0)
    return [entry.path for entry in found]


def _seconds(timestamp: str) -> float:
    """systemd writes microseconds; accept seconds too (a value before the year 5138)."""
    value = int(timestamp)
    return value / 1e6 if value > 1 << 37 else float(value)


def add_option(parser: Any, what: str) -> None:
    """``--systemd-coredump [DIR]`` for `ingest` and `watch` (no other import at start-up)."""
    parser.add_argument(
        "--systemd-coredump",
        nargs="?",
        const=DEFAULT_DIRECTORY,
        default=None,
        metavar="DIR",
        help=f"also {what} the cores systemd-coredump stored in DIR (default {DEFAULT_DIRECTORY})",
    )


def complete_when_created(path: str) -> bool:
    """systemd-coredump links a finished unnamed file into place: its creation is its end."""
    return NAME.match(os.path.basename(path)) is not None
