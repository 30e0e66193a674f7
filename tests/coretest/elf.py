"""Just enough ELF reading to check that a fixture is a real core and to cut cores apart."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
NT_PRSTATUS = 1
NT_PRPSINFO = 3
NT_SIGINFO = 0x53494749
_PRSTATUS_PID = 32  # offset of pr_pid in the 64-bit elf_prstatus
_PRPSINFO_PID = 24  # offset of pr_pid in the 64-bit elf_prpsinfo (pr_ppid follows)


@dataclass(frozen=True)
class Segment:
    type: int
    offset: int
    filesz: int
    vaddr: int
    memsz: int


@dataclass(frozen=True)
class Note:
    name: bytes
    type: int
    desc: bytes


@dataclass(frozen=True)
class ElfFile:
    e_type: int
    phoff: int
    phentsize: int
    phnum: int
    segments: tuple[Segment, ...]

    @property
    def notes(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.type == PT_NOTE)


def elf_type(path: Path) -> int | None:
    """e_type of a 64-bit little-endian ELF file, None for anything else."""
    with open(path, "rb") as stream:
        head = stream.read(18)
    if len(head) < 18 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return None
    return struct.unpack_from("<H", head, 16)[0]


def is_core(path: Path) -> bool:
    return path.is_file() and elf_type(path) == ET_CORE


def read_elf(path: Path) -> ElfFile:
    data = path.read_bytes()
    if elf_type(path) is None:
        raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
    e_type = struct.unpack_from("<H", data, 16)[0]
    phoff = struct.unpack_from("<Q", data, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    segments = tuple(_segment(data, phoff + i * phentsize) for i in range(phnum))
    return ElfFile(e_type, phoff, phentsize, phnum, segments)


def _segment(data: bytes, offset: int) -> Segment:
    p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz = struct.unpack_from(
        "<IIQQQQQ", data, offset
    )
    return Segment(p_type, p_offset, p_filesz, p_vaddr, p_memsz)


def read_notes(path: Path) -> list[Note]:
    """All notes of all PT_NOTE segments, in file order."""
    elf = read_elf(path)
    notes: list[Note] = []
    with open(path, "rb") as stream:
        for segment in elf.notes:
            stream.seek(segment.offset)
            notes.extend(_parse_notes(stream.read(segment.filesz)))
    return notes


def _parse_notes(blob: bytes) -> list[Note]:
    notes = []
    offset = 0
    while offset + 12 <= len(blob):
        namesz, descsz, n_type = struct.unpack_from("<III", blob, offset)
        name_start = offset + 12
        desc_start = name_start + _align4(namesz)
        name = blob[name_start : name_start + namesz].rstrip(b"\0")
        notes.append(Note(name, n_type, blob[desc_start : desc_start + descsz]))
        offset = desc_start + _align4(descsz)
    return notes


def _align4(size: int) -> int:
    return (size + 3) & ~3


def thread_ids(notes: list[Note]) -> list[int]:
    """pr_pid of every NT_PRSTATUS; the kernel writes the crashing thread first."""
    return [
        struct.unpack_from("<i", note.desc, _PRSTATUS_PID)[0]
        for note in notes
        if note.name == b"CORE" and note.type == NT_PRSTATUS
    ]


def process_id(notes: list[Note]) -> int | None:
    """pr_pid of NT_PRPSINFO."""
    return _prpsinfo_int(notes, _PRPSINFO_PID)


def parent_id(notes: list[Note]) -> int | None:
    """pr_ppid of NT_PRPSINFO.

    The kernel writes the thread id of the parent *thread* that forked the process
    (task_pid_vnr(real_parent)); gcore writes the ppid of /proc/PID/stat (a process id).
    """
    return _prpsinfo_int(notes, _PRPSINFO_PID + 4)


def _prpsinfo_int(notes: list[Note], offset: int) -> int | None:
    for note in notes:
        if note.name == b"CORE" and note.type == NT_PRPSINFO:
            return struct.unpack_from("<i", note.desc, offset)[0]
    return None


def signal_number(notes: list[Note]) -> int | None:
    """si_signo of the NT_SIGINFO note, None when the core has none."""
    for note in notes:
        if note.type == NT_SIGINFO and len(note.desc) >= 4:
            return struct.unpack_from("<i", note.desc, 0)[0]
    return None
