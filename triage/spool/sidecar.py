"""The optional ``CORE.json`` a collector writes next to a core: host, service, release..."""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from typing import Any

from .names import safe_text, sidecar_of

MAX_SIDECAR_BYTES = 1 << 20  # context, not data: anything bigger is not a sidecar
KNOWN_FIELDS = ("host", "service", "release", "executable", "tags")
MAX_DEPTH = 32  # a sidecar is a flat record; deeper nesting is refused
# Anyone who can write to the spool writes sidecars: never follow a link out of it, never wait
# on a FIFO, read only a regular file, and through the descriptor that was checked.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def read_sidecar(core_path: str) -> tuple[dict[str, Any] | None, str | None]:
    """(context, problem): the sidecar's object, or None with why it was not usable.

    A missing sidecar is normal (None, None); a broken one is noted on the crash, never fatal.
    """
    path = sidecar_of(core_path)
    name = safe_text(os.path.basename(path))
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, f"sidecar {name} is a symbolic link: not followed"
        return None, f"sidecar {name} not readable: {exc.strerror or exc}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, f"sidecar {name} is not a regular file"
        raw = _read(fd, MAX_SIDECAR_BYTES + 1)
    except OSError as exc:
        return None, f"sidecar {name} not readable: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if len(raw) > MAX_SIDECAR_BYTES:
        return None, f"sidecar {name} is larger than {MAX_SIDECAR_BYTES} bytes"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"sidecar {name} is not valid JSON: {exc}"
    except RecursionError:  # e.g. 100,000 nested arrays
        return None, f"sidecar {name} is nested too deeply"
    if not isinstance(data, dict):
        return None, f"sidecar {name} is not a JSON object"
    try:
        return storable(data), None
    except RecursionError:
        return None, f"sidecar {name} is nested more than {MAX_DEPTH} levels deep"


def storable(value: Any, depth: int = MAX_DEPTH) -> Any:
    """VALUE as every database stores it: JSON allows NULs, lone surrogates and NaN, which
    PostgreSQL or the drivers refuse (and a refused row would be retried for ever)."""
    if depth < 0:
        raise RecursionError
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(str(k)): storable(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v, depth - 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # NaN: not JSON to PostgreSQL
        return str(value)
    return value


def _read(fd: int, limit: int) -> bytes:
    chunks = []
    while limit > 0:
        chunk = os.read(fd, min(limit, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)


def text_field(context: dict[str, Any] | None, key: str, limit: int = 255) -> str | None:
    value = (context or {}).get(key)
    if value is None or isinstance(value, (dict, list)):
        return None
    # JSON may hold lone surrogates and NULs, which a database column refuses.
    return safe_text(str(value))[:limit]
