"""Facts about the dying process from /proc/PID, read while the kernel still holds it.

With a non-zero ``core_pipe_limit`` the kernel keeps /proc/PID until the handler exits. Every
reader here is bounded and returns nothing rather than raising: a fact that cannot be read is
left out, the core is still kept.
"""

from __future__ import annotations

import os
import re
import struct

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

MAX_PROC_READ = 256 << 10  # cmdline and environ can be large; context, not data
MAX_NOTES = 64 << 10
NT_GNU_BUILD_ID = 3
PT_NOTE = 4
_CONTAINER = re.compile(r"(?:docker|libpod|crio|cri-containerd|containerd)?[-/:]?([0-9a-f]{64})")
_PYTHON_LIBRARY = re.compile(r"/libpython(\d+\.\d+)[a-z]*\.so")
_PYTHON_EXECUTABLE = re.compile(r"/python(\d+\.\d+)[a-z]*$")
_PYENV_VERSION = re.compile(r"/versions/(\d+\.\d+\.\d+)[^/]*/")


def read_bytes(path: str, limit: int = MAX_PROC_READ) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def text(raw: bytes) -> str:
    # Names of any bytes stay lossless in JSON this way (a lone surrogate becomes \udcXX).
    return raw.decode("utf-8", "surrogateescape").encode("utf-8", "backslashreplace").decode()


def process_facts(pid: int, allowed: Iterable[str]) -> dict[str, Any]:
    """cmdline, comm, uid, gid, cgroup, container id, build id, Python version, environment."""
    base = f"/proc/{pid}"
    facts: dict[str, Any] = {}
    raw = read_bytes(f"{base}/cmdline")
    if raw:
        facts["cmdline"] = [text(arg) for arg in raw.rstrip(b"\0").split(b"\0")]
    raw = read_bytes(f"{base}/comm", 64)
    if raw:
        facts["comm"] = text(raw.rstrip(b"\n"))
    facts.update(_status(read_bytes(f"{base}/status", 16 << 10) or b""))
    raw = read_bytes(f"{base}/cgroup", 16 << 10)
    if raw:
        cgroup = text(raw.strip())
        facts["cgroup"] = cgroup
        container = container_id(cgroup)
        if container:
            facts["container_id"] = container
    try:
        executable = os.readlink(f"{base}/exe")
    except OSError:
        executable = None
    build = build_id(f"{base}/exe")
    if build:
        facts["build_id"] = build
    maps = (read_bytes(f"{base}/maps", 4 << 20) or b"").decode("utf-8", "replace")
    version = python_version(executable, maps)
    if version:
        facts["python_version"] = version
    library = python_library(maps)
    if library:
        facts["python_library"] = library
        # Through the process's root: in a container the path names the container's file.
        found = build_id(f"{base}/root{library}")
        if found:
            facts["python_library_build_id"] = found
    environment = allowed_environment(read_bytes(f"{base}/environ") or b"", allowed)
    if environment:
        facts["environment"] = environment
    return facts


def _status(raw: bytes) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for line in raw.decode("ascii", "replace").splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid"):
            ids = value.split()
            if ids and ids[0].isdigit():
                facts[key.lower()] = int(ids[0])  # the real id, as %u/%g give it
    return facts


def container_id(cgroup: str) -> str | None:
    """The 64-hex id Docker, Podman, containerd and CRI-O put in the cgroup path."""
    match = _CONTAINER.search(cgroup)
    return match.group(1) if match else None


def allowed_environment(raw: bytes, allowed: Iterable[str]) -> dict[str, str]:
    """Only the variables named in ALLOWED: an environment often holds secrets."""
    names = set(allowed)
    found: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        name, equals, value = entry.partition(b"=")
        if equals and text(name) in names:
            found[text(name)] = text(value)
    return found


def python_version(executable: str | None, maps: str) -> str | None:
    """From names only (no reading of the core): libpython, or the interpreter's file name."""
    library = _PYTHON_LIBRARY.search(maps)
    # A pyenv-style prefix (".../versions/3.12.1/...") of libpython or the interpreter has the
    # full version; otherwise the file name has major.minor.
    for source in (
        maps[maps.rfind("\n", 0, library.start()) + 1 :] if library else "",
        executable or "",
    ):
        match = _PYENV_VERSION.search(source.split("\n", 1)[0])
        if match:
            return match.group(1)
    if library:
        return library.group(1)
    match = _PYTHON_EXECUTABLE.search(executable or "")
    return match.group(1) if match else None


def python_library(maps: str) -> str | None:
    """The path of the libpython the process mapped, if any (a shared-library build)."""
    match = _PYTHON_LIBRARY.search(maps)
    if match is None:
        return None
    line = maps[maps.rfind("\n", 0, match.start()) + 1 :].split("\n", 1)[0]
    path = line[line.find("/") :] if "/" in line else ""
    return path if path.startswith("/") and not path.endswith(" (deleted)") else None


def build_id(path: str) -> str | None:
    """The GNU build id of the ELF file at PATH (/proc/PID/exe: the very file that ran)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _build_id(fd)
    except (OSError, struct.error, ValueError):
        return None
    finally:
        os.close(fd)


def _build_id(fd: int) -> str | None:
    header = os.pread(fd, 64, 0)
    if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
        return None
    order = "<" if header[5] == 1 else ">"
    (phoff,) = struct.unpack_from(order + "Q", header, 32)
    phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
    if phnum == 0 or phentsize < 56 or phnum > 256:
        return None
    table = os.pread(fd, phentsize * phnum, phoff)
    for index in range(phnum):
        entry = table[index * phentsize : (index + 1) * phentsize]
        if len(entry) < 56:
            break
        kind, _, offset, _, _, size = struct.unpack_from(order + "IIQQQQ", entry, 0)
        if kind != PT_NOTE:
            continue
        found = _note(os.pread(fd, min(size, MAX_NOTES), offset), order)
        if found:
            return found
    return None


def _note(notes: bytes, order: str) -> str | None:
    position = 0
    while position + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from(order + "III", notes, position)
        position += 12
        name = notes[position : position + namesz]
        position += (namesz + 3) & ~3
        desc = notes[position : position + descsz]
        position += (descsz + 3) & ~3
        if kind == NT_GNU_BUILD_ID and name.rstrip(b"\0") == b"GNU":
            return desc.hex()
    return None
