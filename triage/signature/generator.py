"""A signature from an analysis: the thread it is about, its meaningful frames, their hash."""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass

from ..model import Analysis
from ..stack import crashing_thread
from .config import SignatureConfig, default_config
from .rules import RULES_VERSION, apply_rules

# The layout of the hashed text. It is not the rules version on purpose: new rules that give
# the same tokens keep the same hash, so group ids survive a `triage resign`.
HASH_FORMAT = "coretriage-signature 1"
MAX_TITLE = 255  # as Socorro: long enough to read, short enough for a table
HANG = "hang"  # what a snapshot's signature starts with instead of a signal


@dataclass(frozen=True)
class Signature:
    text: str  # human-readable: "SIGABRT | app:Handler.handle | app:main"
    hash: str  # sha256 (hex) of hashed_text
    hashed_text: str
    rules_version: str
    notes: tuple[str, ...] = ()
    tid: int | None = None  # the thread it describes (the one reports show first)
    meaningful: bool = True  # False: no frame counted (grouped by signal and executable)


def rules_version(config: SignatureConfig) -> str:
    return RULES_VERSION if config.digest is None else f"{RULES_VERSION}+{config.digest}"


def compute(analysis: Analysis, config: SignatureConfig | None = None) -> Signature:
    """The signature of an analysis; never raises on odd or partial analyses.

    A crash starts with its signal; a snapshot (gcore, a live analysis: the process did not
    die) is a hang, signed by the code that waits rather than by the signal that stopped it.
    """
    config = config or default_config()
    hang = analysis.is_snapshot
    head = HANG if hang else _signal_name(analysis)
    choice = crashing_thread(analysis)
    thread = choice.thread
    notes = [f"thread {thread.tid if thread else '-'}: {choice.reason.value}"]
    tokens, rule_notes = apply_rules(thread.frames if thread else (), config, hang=hang)
    notes.extend(rule_notes)
    flags = ["in-gc"] if thread is not None and thread.gc and not hang else []
    lines = [HASH_FORMAT, HANG if hang else f"signal {head}"] + [f"flag {f}" for f in flags]
    if tokens:
        parts = [head, *flags, *(token.shown for token in tokens)]
        lines += [f"frame {token.kind.value} {token.text}" for token in tokens]
    else:
        executable = executable_name(analysis)
        notes.append(f"no meaningful frame: grouped by executable {executable} and signal")
        parts = [head, "no-stack", executable]
        lines.append(f"no-stack {executable}")
    hashed_text = "\n".join(lines) + "\n"
    return Signature(
        text=_title(" | ".join(parts)),
        hash=hashlib.sha256(hashed_text.encode("utf-8", "surrogatepass")).hexdigest(),
        hashed_text=hashed_text,
        rules_version=rules_version(config),
        notes=tuple(notes),
        tid=thread.tid if thread is not None else None,
        meaningful=bool(tokens),
    )


def _signal_name(analysis: Analysis) -> str:
    core = analysis.core
    name = core.signal_name if core is not None else None
    return name or "no-signal"


def executable_name(analysis: Analysis) -> str:
    """The executable's base name: its directory differs between hosts and releases."""
    core = analysis.core
    argv = core.argv if core is not None else ()
    candidates: tuple[str | None, ...] = (
        analysis.source.executable,
        core.execfn if core is not None else None,
        argv[0] if argv else None,
        core.fname if core is not None else None,
    )
    for candidate in candidates:
        if candidate:
            return posixpath.basename(candidate) or str(candidate)
    return "<unknown executable>"


def _title(text: str) -> str:
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"
