"""Frame tokens: ``module:function`` for Python frames, bare demangled names for native ones.

Everything that changes between two occurrences of the same bug (install prefixes, virtualenv
and release directories, interpreter versions, line numbers, argument lists, compiler clone
suffixes, the qualname that only 3.11+ records) is removed here, so that the rules only ever see
stable names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from ..model import Frame
from ..stack import FROZEN, PACKAGE_ROOTS, STDLIB_ROOT, normalized_path, under

_SOURCE_SUFFIX = re.compile(r"\.(?:py[cowx]?|so|pyd)$|\.cpython-[^/]*$")

# Native names: GCC clone suffixes, glibc/GLib internal prefixes, glibc IFUNC variants.
_CLONE_SUFFIX = re.compile(r"(?:\.(?:cold|constprop|isra|part|lto_priv|localalias)(?:\.\d+)?)+$")
_INTERNAL_PREFIX = re.compile(r"^(?:__GI_|IA__)")
_IFUNC = re.compile(
    r"^__(?P<base>mem(?:chr|cmp|cpy|move|set|rchr)|rawmemchr|str(?:casecmp|cat|chr|chrnul|cmp|"
    r"cpy|cspn|len|ncmp|ncpy|nlen|pbrk|rchr|spn|str|tok)|wcs\w+?)_(?:avx|sse|ssse|evex|erms|"
    r"unaligned|ia32|generic)\w*$"
)
UNKNOWN_NATIVE = ("", "??", "???", "<unknown>")


def python_module(file: str | None, app_roots: Sequence[str] = ()) -> str:
    """The module a source path belongs to, independent of where it was installed."""
    return _module(file, tuple(app_roots))


# Cached, as the names below: a worker meets the same few thousand files and functions in
# every core it signs.
@functools.lru_cache(maxsize=1 << 16)
def _module(file: str | None, app_roots: tuple[str, ...]) -> str:
    if not file:
        return "<unknown>"
    frozen = re.match(FROZEN, file)
    if frozen:
        return frozen.group("module")
    if file.startswith("<"):  # <string>, <stdin>: no file, keep the marker
        return file
    path = normalized_path(file)
    root = under(path, app_roots)
    if root is not None:
        return _dotted(path[len(root) :])
    for pattern in (PACKAGE_ROOTS, STDLIB_ROOT):
        match = re.match(pattern, path)
        if match:
            return _dotted(path[match.end() :])
    # Application code outside any install location: its directory is a deploy detail (release
    # directories, container roots, temp dirs), so only the file name is stable. Configure
    # `app_roots` to get dotted package names instead.
    parts = path.rstrip("/").split("/")
    stem = _SOURCE_SUFFIX.sub("", parts[-1])
    if stem == "__init__" and len(parts) > 1:
        return parts[-2]
    return stem


def _dotted(relative: str) -> str:
    module = _SOURCE_SUFFIX.sub("", relative).strip("/").replace("/", ".")
    if module.endswith(".__init__"):
        module = module[: -len(".__init__")]
    return module or "<unknown>"


def python_token(frame: Frame, app_roots: Sequence[str] = ()) -> str:
    """``module:function``: the same on every Python version, so it is what is hashed.

    ``co_qualname`` (``Class.method``) exists only from 3.11: a token built from it would split
    one bug across an upgrade. ``python_display`` keeps the richer name for people.
    """
    return f"{python_module(frame.file, app_roots)}:{frame.function or '<unknown>'}"


def python_display(frame: Frame, app_roots: Sequence[str] = ()) -> str:
    """``module:qualname`` where the interpreter knows the qualname, else the token."""
    name = frame.qualname or frame.function or "<unknown>"
    return f"{python_module(frame.file, app_roots)}:{name}"


def native_token(frame: Frame) -> str | None:
    """The demangled function without arguments or offsets; None when there is no symbol."""
    return _native_name(frame.function)


@functools.lru_cache(maxsize=1 << 16)
def _native_name(name: str | None) -> str | None:
    if name in UNKNOWN_NATIVE:
        return None
    name = strip_arguments(str(name)).strip()
    name = _CLONE_SUFFIX.sub("", name)
    name = _INTERNAL_PREFIX.sub("", name)
    ifunc = _IFUNC.match(name)
    if ifunc:
        name = ifunc.group("base")
    name = re.sub(r"\+0x[0-9a-fA-F]+$", "", name)  # "func+0x1f" from symbolizers
    name = re.sub(r"@@?[\w.]+$", "", name)  # symbol versions: clock_nanosleep@GLIBC_2.2.5
    return name or None


def strip_arguments(name: str) -> str:
    """``ns::f(int, char*) const`` → ``ns::f``; keeps ``(anonymous namespace)``, ``operator()``."""
    depth = 0
    cut = None
    for index, char in enumerate(name):
        if char == "(":
            if depth == 0 and not _kept_parenthesis(name, index):
                cut = index
                break
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
    return name[:cut] if cut is not None else name


def _kept_parenthesis(name: str, index: int) -> bool:
    rest = name[index:]
    return rest.startswith("(anonymous namespace)") or name[:index].endswith("operator")
