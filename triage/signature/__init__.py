"""Crash signatures: which crashes are the same bug (rules in docs/signatures.md)."""

from __future__ import annotations

from .config import SignatureConfig, default_config, load_config
from .generator import Signature, compute, rules_version
from .rules import RULES_VERSION

__all__ = [
    "RULES_VERSION",
    "Signature",
    "SignatureConfig",
    "compute",
    "default_config",
    "load_config",
    "rules_version",
]
