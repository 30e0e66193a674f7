"""A signature from a stored analysis document (the JSON of ``triage core --json``)."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import SignatureConfig, default_config
from .rules import RULES_VERSION, apply_rules
from .thread import crashing_thread

# The layout of the hashed text. It is not the rules version on purpose: new rules that give
# the same tokens keep the same hash, so group ids survive a `triage resign`.
HASH_FORMAT = "coretriage-signature 1"
MAX_TITLE = 255  # as Socorro: long enough to read, short enough for a table


@dataclass(frozen=True)
class Signature:
    text: str  # human-readable: "SIGABRT | app:handle | app:main"
    hash: str  # sha256 (hex) of hashed_text
    hashed_text: str
    rules_version: str
    notes: tuple[str, ...] = ()


def rules_version(config: SignatureConfig) -> str:
    return RULES_VERSION if config.digest is None else f"{RULES_VERSION}+{config.digest}"


def compute(document: Mapping[str, Any], config: SignatureConfig | None = None) -> Signature:
    """The signature of an analysis document; never raises on odd or partial documents."""
    config = config or default_config()
    process = document.get("process") or {}
    signal = _signal_name(process)
    thread, why = crashing_thread(document.get("threads") or [])
    notes = [f"thread {thread.get('tid') if thread else '-'}: {why}"]
    tokens, rule_notes = apply_rules((thread or {}).get("frames") or [], config)
    notes.extend(rule_notes)
    flags = ["in-gc"] if thread is not None and thread.get("gc") else []
    lines = [HASH_FORMAT, f"signal {signal}"] + [f"flag {flag}" for flag in flags]
    if tokens:
        parts = [signal, *flags, *(token.text or "" for token in tokens)]
        lines += [f"frame {token.kind} {token.text}" for token in tokens]
    else:
        executable = executable_name(document)
        notes.append(f"no meaningful frame: grouped by executable {executable} and signal")
        parts = [signal, "no-stack", executable]
        lines.append(f"no-stack {executable}")
    hashed_text = "\n".join(lines) + "\n"
    return Signature(
        text=_title(" | ".join(parts)),
        hash=hashlib.sha256(hashed_text.encode("utf-8", "surrogatepass")).hexdigest(),
        hashed_text=hashed_text,
        rules_version=rules_version(config),
        notes=tuple(notes),
    )


def _signal_name(process: Mapping[str, Any]) -> str:
    signal = process.get("signal")
    if isinstance(signal, Mapping) and signal.get("name"):
        return str(signal["name"])
    return "no-signal"


def executable_name(document: Mapping[str, Any]) -> str:
    """The executable's base name: its directory differs between hosts and releases."""
    source = document.get("source") or {}
    process = document.get("process") or {}
    argv = process.get("argv") or []
    for candidate in (
        source.get("executable"),
        process.get("execfn"),
        argv[0] if argv else None,
        process.get("fname"),
    ):
        if candidate:
            return posixpath.basename(str(candidate)) or str(candidate)
    return "<unknown executable>"


def _title(text: str) -> str:
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"
