"""Rewriting strings inside a copy of a real core: AT_EXECFN and the NT_FILE paths.

A replacement must not be longer than what it replaces (the core's layout stays as it is);
a shorter path is padded with slashes, which name the same file.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from coretest import elf
from mutate import note_spans

AT_EXECFN = 31
NT_AUXV = 6
NT_FILE = 0x46494C45


def vaddr_to_offset(core: Path, vaddr: int) -> int | None:
    """The file offset that holds the dumped byte at VADDR, None when it was not dumped."""
    for segment in elf.read_elf(core).segments:
        if segment.type == elf.PT_LOAD and segment.vaddr <= vaddr < segment.vaddr + segment.filesz:
            return segment.offset + vaddr - segment.vaddr
    return None


def _note_desc(core: Path, note_type: int) -> tuple[int, bytes]:
    note = next(n for n in note_spans(core) if n.type == note_type)
    with open(core, "rb") as stream:
        stream.seek(note.desc_offset)
        return note.desc_offset, stream.read(note.desc_size)


def execfn_location(core: Path) -> tuple[int, int]:
    """(file offset, length) of the AT_EXECFN string in the core's memory."""
    _, auxv = _note_desc(core, NT_AUXV)
    for key, value in struct.iter_unpack("<QQ", auxv):
        if key == AT_EXECFN:
            offset = vaddr_to_offset(core, value)
            assert offset is not None, "AT_EXECFN was not dumped"
            with open(core, "rb") as stream:
                stream.seek(offset)
                return offset, stream.read(4096).index(b"\0")
    raise AssertionError("the core has no AT_EXECFN")


def file_note_paths(core: Path) -> list[tuple[int, bytes]]:
    """(file offset, path) of every path in NT_FILE, in order."""
    desc_offset, desc = _note_desc(core, NT_FILE)
    count = struct.unpack_from("<Q", desc)[0]
    pos = 16 + count * 24
    out = []
    for _ in range(count):
        end = desc.index(b"\0", pos)
        out.append((desc_offset + pos, desc[pos:end]))
        pos = end + 1
    return out


def padded(path: bytes, length: int) -> bytes:
    """PATH made LENGTH bytes long with extra slashes after its first one."""
    assert path.startswith(b"/") and len(path) <= length, (path, length)
    return b"/" * (length - len(path) + 1) + path[1:]


def rewrite(core: Path, target: Path, patches: list[tuple[int, bytes]]) -> Path:
    shutil.copyfile(core, target)
    with open(target, "r+b") as out:
        for offset, data in patches:
            out.seek(offset)
            out.write(data)
    return target
