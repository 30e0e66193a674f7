"""Signature settings: the bundled skip lists, optionally extended by a TOML file.

```toml
# signature.toml (``--signature-config FILE`` or ``$TRIAGE_SIGNATURE_CONFIG``)
frames = 5                          # meaningful frames kept, from the crash point outward
app_roots = ["/srv/app"]            # strip these to get dotted module names of your code
skip_python = ["mylib\\.retry:"]   # regexes (re.match) on module:qualname
skip_native = ["my_crash_handler"]  # regexes on demangled native names
sentinels = ["my_fatal"]            # native frames where crash handling starts
replace_defaults = false            # true: the bundled lists are not used at all
```
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..scrub import ScrubRules, rules_from

DEFAULT_FRAMES = 5
SIGLISTS = Path(__file__).with_name("siglists")
ENVIRONMENT_VARIABLE = "TRIAGE_SIGNATURE_CONFIG"
_KEYS = {"frames", "app_roots", "skip_python", "skip_native", "sentinels", "replace_defaults"}
SCRUB_TABLE = "scrub"  # the secrets rules of ``triage.scrub``, in the same file


@dataclass(frozen=True)
class SignatureConfig:
    frames: int = DEFAULT_FRAMES
    app_roots: tuple[str, ...] = ()
    skip_python: tuple[str, ...] = ()
    skip_native: tuple[str, ...] = ()
    machinery_native: tuple[str, ...] = ()
    sentinels: tuple[str, ...] = ()
    digest: str | None = None  # of the user's file; None with the bundled lists only
    scrub: ScrubRules = field(default_factory=ScrubRules, compare=False)
    compiled: dict[str, re.Pattern[str] | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def pattern(self, name: str) -> re.Pattern[str] | None:
        """One alternation per list, compiled once (None for an empty list)."""
        if name not in self.compiled:
            items: tuple[str, ...] = getattr(self, name)
            self.compiled[name] = re.compile("|".join(f"(?:{p})" for p in items)) if items else None
        return self.compiled[name]


_LISTS = ("app_roots", "skip_python", "skip_native", "machinery_native", "sentinels")


def config_to_json(config: SignatureConfig) -> dict[str, Any]:
    """The settings as JSON (how a watcher hands them to its worker processes)."""
    rules = config.scrub
    return {
        "frames": config.frames,
        "digest": config.digest,
        **{name: list(getattr(config, name)) for name in _LISTS},
        "scrub": {"enabled": rules.enabled, "names": rules.names, "patterns": rules.patterns},
    }


def config_from_json(data: dict[str, Any]) -> SignatureConfig:
    rules = data["scrub"]
    lists: dict[str, Any] = {name: tuple(data[name]) for name in _LISTS}
    return SignatureConfig(
        frames=data["frames"],
        digest=data["digest"],
        scrub=ScrubRules(rules["enabled"], tuple(rules["names"]), tuple(rules["patterns"])),
        **lists,
    )


def read_list(name: str) -> tuple[str, ...]:
    """A bundled skip list: one regex a line, ``#`` comments and blank lines ignored."""
    lines = (SIGLISTS / name).read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def default_config() -> SignatureConfig:
    return SignatureConfig(
        skip_python=read_list("irrelevant_python.txt"),
        skip_native=read_list("irrelevant_native.txt"),
        machinery_native=read_list("machinery_native.txt"),
        sentinels=read_list("sentinels_native.txt"),
    )


def load_config(path: str | os.PathLike[str] | None = None) -> SignatureConfig:
    """The bundled lists plus PATH (else ``$TRIAGE_SIGNATURE_CONFIG``, else nothing)."""
    path = path or os.environ.get(ENVIRONMENT_VARIABLE) or None
    base = default_config()
    if path is None:
        return base
    raw = Path(path).read_bytes() if Path(path).is_file() else None
    if raw is None:
        raise UsageError(f"signature config {path} does not exist")
    document = _parse_toml(raw, str(path))
    scrub = rules_from(document.get(SCRUB_TABLE), str(path))
    data = document.get("signature", document)  # a [signature] table or top-level keys
    unknown = set(data) - _KEYS - {SCRUB_TABLE}
    if unknown:
        raise UsageError(f"signature config {path}: unknown keys {', '.join(sorted(unknown))}")
    frames = data.get("frames", DEFAULT_FRAMES)
    if not isinstance(frames, int) or not 1 <= frames <= 50:
        raise UsageError(f"signature config {path}: frames must be an integer from 1 to 50")
    keep = not data.get("replace_defaults", False)
    config = SignatureConfig(
        frames=frames,
        app_roots=_strings(data, "app_roots", path),
        skip_python=(base.skip_python if keep else ()) + _regexes(data, "skip_python", path),
        skip_native=(base.skip_native if keep else ()) + _regexes(data, "skip_native", path),
        machinery_native=base.machinery_native if keep else (),
        sentinels=(base.sentinels if keep else ()) + _regexes(data, "sentinels", path),
        digest=hashlib.sha256(raw).hexdigest()[:8],
        scrub=scrub,
    )
    return config


def _parse_toml(raw: bytes, name: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the venv of the tests is 3.11+
        import tomli as tomllib
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"signature config {name} is not valid TOML: {exc}") from None


def _strings(data: dict[str, Any], key: str, path: object) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"signature config {path}: {key} must be a list of strings")
    return tuple(value)


def _regexes(data: dict[str, Any], key: str, path: object) -> tuple[str, ...]:
    patterns = _strings(data, key, path)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            message = f"signature config {path}: {key}: bad regex {pattern!r}: {exc}"
            raise UsageError(message) from None
    return patterns
