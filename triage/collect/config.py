"""The collector's settings: defaults, the TOML file, and the command-line overrides."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any

STATE_DIRECTORY = ".coretriage"  # a dot directory: the watcher never takes it for a core
CONFIG_NAME = "collect.toml"
SYSTEM_CONFIG = "/etc/coretriage/collect.toml"
# The kernel starts the handler without PATH: compressors are looked for here, in order.
ZSTD_CANDIDATES = ("/usr/bin/zstd", "/usr/local/bin/zstd", "/bin/zstd")

# Never secrets: variables that tell which service and environment crashed, nothing more.
DEFAULT_ENVIRONMENT = (
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "SERVICE_NAME",
    "SERVICE_VERSION",
)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class ConfigError(Exception):
    """The configuration file or a flag cannot be used."""


@dataclass(frozen=True)
class CollectConfig:
    compress: str = "none"  # "zstd" or "none"
    zstd: str | None = None  # the zstd binary; None: the first of ZSTD_CANDIDATES
    zstd_level: int = 3
    max_core_size: int = 8 << 30  # bytes of the core as the kernel sends it (uncompressed)
    min_free: int = 1 << 30  # bytes that must stay free on the spool's file system
    rate_limit: int = 10  # cores kept per executable within rate_window (0: no limit)
    rate_window: float = 3600.0
    time_limit: float = 300.0  # seconds for the whole handler, reading /proc included
    environment: tuple[str, ...] = DEFAULT_ENVIRONMENT
    service_variable: str = "SERVICE_NAME"  # its value (when allowed) becomes `service`
    release_variable: str = "SERVICE_VERSION"  # its value (when allowed) becomes `release`
    log_max_bytes: int = 1 << 20  # collect.log is rotated to collect.log.1 beyond this
    group: str | None = None  # group (name or id) of the files written, for a non-root watcher
    source: str | None = field(default=None, compare=False)  # the file read, for the log


def state_directory(spool: str) -> str:
    return os.path.join(spool, STATE_DIRECTORY)


def config_path(spool: str, explicit: str | None = None) -> str | None:
    """--config, else SPOOL/.coretriage/collect.toml, else /etc/coretriage/collect.toml."""
    if explicit:
        return explicit
    for candidate in (os.path.join(state_directory(spool), CONFIG_NAME), SYSTEM_CONFIG):
        if os.path.isfile(candidate):
            return candidate
    return None


def load(
    spool: str, explicit: str | None = None, overrides: dict[str, Any] | None = None
) -> CollectConfig:
    """The settings of SPOOL: the TOML file found, then OVERRIDES (flags) on top."""
    config = CollectConfig()
    path = config_path(spool, explicit)
    if path is not None:
        config = replace(_from_toml(path), source=path)
    values = {key: value for key, value in (overrides or {}).items() if value is not None}
    if values:
        config = replace(config, **_checked(values, "flag"))
    return config


def _from_toml(path: str) -> CollectConfig:
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return CollectConfig(**_checked(data, path))


def _checked(data: dict[str, Any], where: str) -> dict[str, Any]:
    known = {item.name: item for item in fields(CollectConfig) if item.name != "source"}
    result: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        try:
            result[key] = _convert(key, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {key}: {exc}") from None
    return result


def _convert(key: str, value: Any) -> Any:
    if key in ("max_core_size", "min_free", "log_max_bytes"):
        return parse_size(value)
    if key in ("rate_limit", "zstd_level"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{value!r} is not a non-negative integer")
        return value
    if key in ("rate_window", "time_limit"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{value!r} is not a positive number")
        return float(value)
    if key == "compress":
        if value not in ("zstd", "none"):
            raise ValueError(f"{value!r} is neither 'zstd' nor 'none'")
        return value
    if key == "group" and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if key == "environment":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of variable names")
        return tuple(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def parse_size(value: Any) -> int:
    """``1073741824``, ``"512M"``, ``"2GiB"``: a number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is negative")
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size (e.g. 512M, 2G)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def zstd_binary(config: CollectConfig) -> str | None:
    for candidate in (config.zstd,) if config.zstd else ZSTD_CANDIDATES:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None
