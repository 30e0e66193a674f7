"""Frame tokens: ``module:qualname`` for Python frames, bare demangled names for native ones.

Everything that changes between two occurrences of the same bug (install prefixes, virtualenv
and release directories, interpreter versions, line numbers, argument lists, compiler clone
suffixes) is removed here, so that the rules only ever see stable names.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Everything up to these markers is an install location, not part of the module name.
_PACKAGE_ROOTS = re.compile(r".*/(?:site-packages|dist-packages)/")
# The standard library: /usr/lib/python3.12/, /opt/pyenv/versions/3.9.18/lib/python3.9t/...
_STDLIB_ROOT = re.compile(r".*/lib(?:64)?/python\d(?:\.\d+)?[a-z]*/(?:lib-dynload/)?")
_SOURCE_SUFFIX = re.compile(r"\.(?:py[cowx]?|so|pyd)$|\.cpython-[^/]*$")
_FROZEN = re.compile(r"^<frozen (?P<module>[^>]+)>$")

# Native names: GCC clone suffixes, glibc/GLib internal prefixes, glibc IFUNC variants.
_CLONE_SUFFIX = re.compile(r"(?:\.(?:cold|constprop|isra|part|lto_priv|localalias)(?:\.\d+)?)+$")
_INTERNAL_PREFIX = re.compile(r"^(?:__GI_|IA__)")
_IFUNC = re.compile(
    r"^__(?P<base>mem(?:chr|cmp|cpy|move|set|rchr)|rawmemchr|str(?:casecmp|cat|chr|chrnul|cmp|"
    r"cpy|cspn|len|ncmp|ncpy|nlen|pbrk|rchr|spn|str|tok)|wcs\w+?)_(?:avx|sse|ssse|evex|erms|"
    r"unaligned|ia32|generic)\w*$"
)
UNKNOWN_NATIVE = ("", "??", "???", "<unknown>", None)


def python_module(file: str | None, app_roots: Sequence[str] = ()) -> str:
    """The module a source path belongs to, independent of where it was installed."""
    if not file:
        return "<unknown>"
    frozen = _FROZEN.match(file)
    if frozen:
        return frozen.group("module")
    if file.startswith("<"):  # <string>, <stdin>: no file, keep the marker
        return file
    path = posixpath.normpath(file.replace("\\", "/"))
    for root in app_roots:
        prefix = root.rstrip("/") + "/"
        if path.startswith(prefix):
            return _dotted(path[len(prefix) :])
    for pattern in (_PACKAGE_ROOTS, _STDLIB_ROOT):
        match = pattern.match(path)
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


# CPython's own native code: libpython, the interpreter executable, libffi (ctypes).
_INTERPRETER_LIBRARY = re.compile(r"^(?:libpython\d|python\d|libffi)")


def python_origin(file: str | None, app_roots: Sequence[str] = ()) -> str:
    """``app``, ``stdlib`` or ``package`` (site-packages): who wrote the code of a frame."""
    if not file or file.startswith("<"):
        return "stdlib" if file and _FROZEN.match(file) else "app"
    path = posixpath.normpath(file.replace("\\", "/"))
    if any(path.startswith(root.rstrip("/") + "/") for root in app_roots):
        return "app"
    if _PACKAGE_ROOTS.match(path):
        return "package"
    if _STDLIB_ROOT.match(path):
        return "stdlib"
    return "app"


def native_origin(frame: Mapping[str, Any]) -> str:
    """``interpreter`` for CPython's own native code (stdlib extension modules included)."""
    library = str(frame.get("library") or "")
    path = str(frame.get("library_path") or "")
    if _INTERPRETER_LIBRARY.match(library) or "/lib-dynload/" in path:
        return "interpreter"
    return "native"


def _dotted(relative: str) -> str:
    module = _SOURCE_SUFFIX.sub("", relative).strip("/").replace("/", ".")
    if module.endswith(".__init__"):
        module = module[: -len(".__init__")]
    return module or "<unknown>"


def python_token(frame: Mapping[str, Any], app_roots: Sequence[str] = ()) -> str:
    """``module:qualname``; ``co_qualname`` exists from 3.11, older versions give the name."""
    name = frame.get("qualname") or frame.get("function") or "<unknown>"
    return f"{python_module(frame.get('file'), app_roots)}:{name}"


def native_token(frame: Mapping[str, Any]) -> str | None:
    """The demangled function without arguments or offsets; None when there is no symbol."""
    name = frame.get("function")
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
