"""The optional ``CORE.json`` a collector writes next to a core: host, service, release..."""

from __future__ import annotations

import json
from typing import Any

from .names import sidecar_of

MAX_SIDECAR_BYTES = 1 << 20  # context, not data: anything bigger is not a sidecar
KNOWN_FIELDS = ("host", "service", "release", "executable", "tags")


def read_sidecar(core_path: str) -> tuple[dict[str, Any] | None, str | None]:
    """(context, problem): the sidecar's object, or None with why it was not usable.

    A missing sidecar is normal (None, None); a broken one is noted on the crash, never fatal.
    """
    path = sidecar_of(core_path)
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"sidecar {path} not readable: {exc.strerror or exc}"
    if len(raw) > MAX_SIDECAR_BYTES:
        return None, f"sidecar {path} is larger than {MAX_SIDECAR_BYTES} bytes"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"sidecar {path} is not valid JSON: {exc}"
    if not isinstance(data, dict):
        return None, f"sidecar {path} is not a JSON object"
    return data, None


def text_field(context: dict[str, Any] | None, key: str, limit: int = 255) -> str | None:
    value = (context or {}).get(key)
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)[:limit]
