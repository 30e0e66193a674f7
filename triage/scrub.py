"""Secrets out of analyses: values of sensitive names, and values that look like credentials.

A crashing function's locals can hold a password argument, an API token, an ``Authorization``
header in a dict or a database URL with its password. Before anything is stored (database,
JSON, HTML), those values become ``[redacted]`` and the names stay, so a reader still sees that
the variable was there. The rules (``[scrub]`` in the TOML config) can add names and patterns,
replace the defaults, or turn scrubbing off.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from .model import Analysis, CoreInfo, Frame, Record, Thread, replace

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

REDACTED = "[redacted]"

# Names whose values are secrets, matched case-insensitively anywhere in the name
# (``db_password``, ``X-Auth-Token``, ``sessionid``).
DEFAULT_NAMES = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "auth",
    "authorization",
    "cookie",
    "session",
    "credential",
    "private_key",
    "privatekey",
    "dsn",
    "csrf",
)
# `auth` is in `author` too: those are names, not secrets.
_NOT_SECRET_AFTER = {"auth": "or"}

# Values that are credentials whatever they are called.
DEFAULT_PATTERNS = (
    r"(?i:\bbearer\s+[A-Za-z0-9._~+/=-]{4,})",  # Authorization: Bearer ...
    r"(?i:\bbasic\s+[A-Za-z0-9+/=]{8,})",  # Authorization: Basic ...
    r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",  # a JWT
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",  # GitHub tokens
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack tokens
    r"\bsk_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe keys
    r"\bAIza[0-9A-Za-z_-]{35}\b",  # Google API keys
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",  # a PEM private key
)

# `name: value` or `name=value` pairs inside a repr, a command line or a header-like string.
_PAIR = re.compile(
    r"""(?P<key>(?P<q>['"]?)(?P<name>[A-Za-z_][\w.-]*)(?P=q))(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s,{}\[\]()'"]+)"""
)


class ScrubRules(Record):
    """What is a secret: sensitive names and credential-like values; ENABLED False: nothing."""

    __slots__ = ("enabled", "names", "patterns")
    enabled: bool
    names: tuple[str, ...]
    patterns: tuple[str, ...]

    def __init__(
        self,
        enabled: bool = True,
        names: tuple[str, ...] = DEFAULT_NAMES,
        patterns: tuple[str, ...] = DEFAULT_PATTERNS,
    ) -> None:
        object.__setattr__(self, "enabled", enabled)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "patterns", patterns)

    @property
    def name_pattern(self) -> re.Pattern[str] | None:
        return _name_pattern(self.names)

    @property
    def value_pattern(self) -> re.Pattern[str] | None:
        return _value_pattern(self.patterns)

    def sensitive(self, name: str) -> bool:
        pattern = self.name_pattern
        return pattern is not None and bool(pattern.search(name))


# Compiled once per distinct list (the rules are values, rebuilt from each config read).
@functools.lru_cache(maxsize=16)
def _name_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    if not names:
        return None
    alternatives = (
        re.escape(name) + (f"(?!{_NOT_SECRET_AFTER[name]})" if name in _NOT_SECRET_AFTER else "")
        for name in names
    )
    return re.compile("|".join(alternatives), re.IGNORECASE)


@functools.lru_cache(maxsize=16)
def _value_pattern(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def rules_from(table: Any, source: str) -> ScrubRules:
    """The ``[scrub]`` table of a TOML config (keys: enabled, names, patterns, replace_defaults)."""
    from .errors import UsageError

    if table is None:
        return ScrubRules()
    if not isinstance(table, dict):
        raise UsageError(f"{source}: [scrub] must be a table")
    unknown = set(table) - {"enabled", "names", "patterns", "replace_defaults"}
    if unknown:
        raise UsageError(f"{source}: [scrub]: unknown keys {', '.join(sorted(unknown))}")
    keep = not table.get("replace_defaults", False)
    names = _strings(table.get("names", []), f"{source}: [scrub] names")
    patterns = _strings(table.get("patterns", []), f"{source}: [scrub] patterns")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"{source}: [scrub] bad pattern {pattern!r}: {exc}") from None
    return ScrubRules(
        enabled=table.get("enabled", True) is not False,
        names=(DEFAULT_NAMES if keep else ()) + names,
        patterns=(DEFAULT_PATTERNS if keep else ()) + patterns,
    )


def _strings(value: Any, what: str) -> tuple[str, ...]:
    from .errors import UsageError

    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{what} must be a list of strings")
    return tuple(value)


def configured_rules() -> ScrubRules:
    """The rules of the configured rules file ($TRIAGE_SIGNATURE_CONFIG), else the defaults;
    the signature package is only imported when there is a file to read."""
    import os

    if not os.environ.get("TRIAGE_SIGNATURE_CONFIG"):
        return ScrubRules()
    from .signature.config import load_config

    return load_config(None).scrub


def scrub(analysis: Analysis, rules: ScrubRules | None = None) -> Analysis:
    """ANALYSIS with every secret value replaced (a new object; the model is frozen)."""
    rules = rules or ScrubRules()
    if not rules.enabled:
        return analysis
    core = analysis.core
    if core is not None:
        core = _core(core, rules)
    threads = tuple(_thread(thread, rules) for thread in analysis.threads)
    return replace(analysis, core=core, threads=threads)


def _thread(thread: Thread, rules: ScrubRules) -> Thread:
    exception = thread.exception
    if exception is not None and exception.repr:  # an exception's message can quote a secret
        exception = replace(exception, repr=scrub_text(exception.repr, rules))
    if not any(frame.locals or frame.arguments for frame in thread.frames):
        return replace(thread, exception=exception)
    frames = tuple(_frame(f, rules) for f in thread.frames)
    return replace(thread, frames=frames, exception=exception)


def _frame(frame: Frame, rules: ScrubRules) -> Frame:
    if frame.arguments is None and frame.locals is None:
        return frame
    return replace(
        frame,
        arguments=_variables(frame.arguments, rules),
        locals=_variables(frame.locals, rules),
    )


def _variables(
    pairs: Iterable[tuple[str, str]] | None, rules: ScrubRules
) -> tuple[tuple[str, str], ...] | None:
    if pairs is None:
        return None
    return tuple(
        (name, REDACTED if rules.sensitive(name) else scrub_text(value, rules))
        for name, value in pairs
    )


def _core(core: CoreInfo, rules: ScrubRules) -> CoreInfo:
    argv = core.full_argv
    return replace(
        core,
        psargs=scrub_text(core.psargs, rules),
        full_argv=tuple(scrub_text(arg, rules) for arg in argv) if argv is not None else None,
    )


def scrub_text(text: str, rules: ScrubRules) -> str:
    """A repr or a command line with sensitive pairs and credential-like values replaced."""
    if not text:
        return text

    def pair(match: re.Match[str]) -> str:
        if not rules.sensitive(match.group("name")):
            return match.group(0)
        value = match.group("value")
        quote = value[0] if value[:1] in ("'", '"') else ""
        return f"{match.group('key')}{match.group('sep')}{quote}{REDACTED}{quote}"

    text = _PAIR.sub(pair, text)
    text = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)
    text = _flag_values(text, rules)
    if rules.value_pattern is not None:
        text = rules.value_pattern.sub(REDACTED, text)
    return text


# postgresql://app:s3cret@db/prod: the password, not the rest of the URL, is the secret.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)[^\s@/'\"]+@")
_FLAG = re.compile(r"(?P<flag>--?[A-Za-z][\w-]*)(?P<space>\s+)(?P<value>[^\s-][^\s]*)")


def _flag_values(text: str, rules: ScrubRules) -> str:
    """``--password hunter2`` in a command line: the value of a sensitive flag."""

    def flag(match: re.Match[str]) -> str:
        if not rules.sensitive(match.group("flag")):
            return match.group(0)
        return f"{match.group('flag')}{match.group('space')}{REDACTED}"

    return _FLAG.sub(flag, text)
