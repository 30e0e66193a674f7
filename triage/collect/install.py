"""The core_pattern line of the collector, and writing or restoring the kernel's settings."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

from .config import state_directory

CORE_PATTERN = "/proc/sys/kernel/core_pattern"
CORE_PIPE_LIMIT = "/proc/sys/kernel/core_pipe_limit"
PATTERN_LIMIT = 127  # the kernel keeps 128 bytes including the terminating NUL
# Non-zero: the kernel keeps /proc/PID until the handler exits (cmdline, maps, environ...), and
# at most this many crashes are piped at once (more are dropped by the kernel, and logged).
PIPE_LIMIT = 16
SAVED_NAME = "core_pattern.saved.json"
ARGUMENTS = "%P %i %s %t %h %E"


class InstallError(Exception):
    """The pattern cannot be built, written or restored; the message says why."""


@dataclass(frozen=True)
class Settings:
    core_pattern: str
    core_pipe_limit: int


def program() -> str:
    """An absolute command for the kernel (no PATH): the `triage` script of this install."""
    script = os.path.join(os.path.dirname(sys.executable), "triage")
    if os.access(script, os.X_OK):
        return script
    return f"{sys.executable} -m triage"


def wanted(spool: str, command: str | None = None) -> Settings:
    spool = os.path.abspath(spool)
    if any(c.isspace() for c in spool) or "%" in spool:
        raise InstallError(f"spool {spool!r}: the kernel splits the pattern on spaces and %")
    line = f"|{command or program()} collect {spool} {ARGUMENTS}"
    if len(line.encode()) > PATTERN_LIMIT:
        raise InstallError(
            f"the core_pattern line is {len(line.encode())} bytes, the kernel takes "
            f"{PATTERN_LIMIT}: use a shorter spool path or a symbolic link to the triage script"
        )
    return Settings(line, PIPE_LIMIT)


def current() -> Settings:
    try:
        with open(CORE_PATTERN) as stream:
            pattern = stream.read().rstrip("\n")
        with open(CORE_PIPE_LIMIT) as stream:
            limit = int(stream.read().strip() or 0)
    except (OSError, ValueError) as exc:
        raise InstallError(f"cannot read the kernel's core settings: {exc}") from None
    return Settings(pattern, limit)


def write(settings: Settings) -> None:
    try:
        # The limit first: the kernel must already wait for the handler when the first core
        # is piped to it.
        with open(CORE_PIPE_LIMIT, "w") as stream:
            stream.write(f"{settings.core_pipe_limit}\n")
        with open(CORE_PATTERN, "w") as stream:
            stream.write(settings.core_pattern + "\n")
    except OSError as exc:
        raise InstallError(
            f"cannot write {exc.filename or CORE_PATTERN}: {exc.strerror or exc} "
            "(root is needed, and a container may not change kernel settings)"
        ) from None


def apply(spool: str, settings: Settings) -> Settings:
    """Write SETTINGS, keeping the values they replace (once: re-applying keeps the first)."""
    before = current()
    saved = _saved_path(spool)
    if not os.path.exists(saved) and " collect " not in before.core_pattern:
        os.makedirs(os.path.dirname(saved), mode=0o700, exist_ok=True)
        with open(saved, "w") as stream:
            json.dump(
                {"core_pattern": before.core_pattern, "core_pipe_limit": before.core_pipe_limit},
                stream,
            )
    # A higher limit set by the administrator stays: it only allows more crashes at once.
    write(Settings(settings.core_pattern, max(settings.core_pipe_limit, before.core_pipe_limit)))
    return before


def uninstall(spool: str) -> Settings:
    """Write back the values `apply` saved; returns them."""
    saved = _saved_path(spool)
    try:
        with open(saved) as stream:
            data = json.load(stream)
        previous = Settings(str(data["core_pattern"]), int(data["core_pipe_limit"]))
    except FileNotFoundError:
        raise InstallError(f"nothing to restore: {saved} does not exist") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InstallError(f"{saved} is not usable: {exc}") from None
    write(previous)
    os.unlink(saved)
    return previous


def _saved_path(spool: str) -> str:
    return os.path.join(state_directory(os.path.abspath(spool)), SAVED_NAME)
