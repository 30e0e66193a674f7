"""Seeded mutations of real cores: cuts at structure boundaries and corrupted bytes.

Every mutation names the structure it hits, so a failure reads "truncated inside note
NT_FILE at 0x1a2c" rather than "case 417".
"""

from __future__ import annotations

import random
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from coretest import elf

EHDR_SIZE = 64
PHDR_SIZE = 56
PF_W = 2
NOTE_NAMES = {1: "NT_PRSTATUS", 2: "NT_FPREGSET", 3: "NT_PRPSINFO", 6: "NT_AUXV"}
NOTE_NAMES.update({0x46494C45: "NT_FILE", 0x53494749: "NT_SIGINFO", 0x202: "NT_X86_XSTATE"})
# Offsets in an Elf64_Ehdr / Elf64_Phdr where a cut or a flip changes how the rest is read.
EHDR_FIELDS = (4, 5, 16, 18, 20, 24, 32, 40, 52, 54, 56, 58, 60, 62)
PHDR_FIELDS = (0, 4, 8, 16, 32, 39, 40, 47)  # type, flags, offset, vaddr, filesz (+high), memsz


@dataclass(frozen=True)
class Mutation:
    kind: str  # "cut": keep the first `offset` bytes; "patch": write `data` at `offset`
    where: str
    offset: int
    data: bytes = b""

    def describe(self) -> str:
        if self.kind == "cut":
            return f"cut at {self.offset:#x} ({self.where})"
        return f"{self.data.hex()} at {self.offset:#x} ({self.where})"

    def write(self, core: Path, target: Path) -> Path:
        if self.kind == "cut":
            with open(core, "rb") as source:
                target.write_bytes(source.read(self.offset))
        else:
            shutil.copyfile(core, target)
            with open(target, "r+b") as out:
                out.seek(self.offset)
                out.write(self.data)
        return target


@dataclass(frozen=True)
class NoteSpan:
    type: int
    offset: int  # of the note header in the file
    desc_offset: int
    desc_size: int

    @property
    def name(self) -> str:
        return NOTE_NAMES.get(self.type, f"note {self.type:#x}")


def note_spans(core: Path) -> list[NoteSpan]:
    layout = elf.read_elf(core)
    spans = []
    with open(core, "rb") as stream:
        for segment in layout.notes:
            stream.seek(segment.offset)
            blob = stream.read(segment.filesz)
            pos = 0
            while pos + 12 <= len(blob):
                namesz, descsz, n_type = struct.unpack_from("<III", blob, pos)
                desc = pos + 12 + _align4(namesz)
                spans.append(NoteSpan(n_type, segment.offset + pos, segment.offset + desc, descsz))
                pos = desc + _align4(descsz)
    return spans


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _phdr_flags(core: Path, layout: elf.ElfFile) -> list[int]:
    with open(core, "rb") as stream:
        stream.seek(layout.phoff)
        table = stream.read(layout.phnum * PHDR_SIZE)
    return [struct.unpack_from("<I", table, i * PHDR_SIZE + 4)[0] for i in range(layout.phnum)]


def boundary_cuts(core: Path) -> list[Mutation]:
    """A cut inside every structure: ELF header, program headers, each note, load data."""
    layout = elf.read_elf(core)
    cuts = [Mutation("cut", "ELF header", offset) for offset in (1, 16, 40, EHDR_SIZE - 1)]
    for i in range(layout.phnum + 1):
        cuts.append(Mutation("cut", f"program header {i}", layout.phoff + i * PHDR_SIZE - 20))
    for note in note_spans(core):
        cuts.append(Mutation("cut", f"header of {note.name}", note.offset + 6))
        cuts.append(Mutation("cut", f"inside {note.name}", note.desc_offset + note.desc_size // 2))
    loads = [s for s in layout.segments if s.type == elf.PT_LOAD and s.filesz > 0]
    for segment in loads[:: max(1, len(loads) // 6)]:
        cuts.append(Mutation("cut", "PT_LOAD data", segment.offset + segment.filesz // 2))
    return cuts


def flips(core: Path, rng: random.Random, count: int) -> list[Mutation]:
    """COUNT corrupted spots, spread over headers, notes and writable memory."""
    makers = (_header_flip, _phdr_flip, _note_flip, _pointer_flip)
    layout = elf.read_elf(core)
    notes = note_spans(core)
    out = []
    for i in range(count):
        mutation = makers[i % len(makers)](core, layout, notes, rng)
        if mutation is not None:
            out.append(mutation)
    return out


def _random_byte(rng: random.Random) -> bytes:
    return bytes([rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))])


def _header_flip(core, layout, notes, rng):  # type: ignore[no-untyped-def]
    offset = rng.choice(EHDR_FIELDS) + rng.randrange(2)
    return Mutation("patch", "ELF header", offset, _random_byte(rng))


def _phdr_flip(core, layout, notes, rng):  # type: ignore[no-untyped-def]
    index = rng.randrange(layout.phnum)
    note_index = next((i for i, s in enumerate(layout.segments) if s.type == elf.PT_NOTE), 0)
    if rng.random() < 0.3:  # the high byte of PT_NOTE's p_filesz: one byte, many readers
        return Mutation(
            "patch",
            "PT_NOTE p_filesz",
            layout.phoff + note_index * PHDR_SIZE + 39,
            _random_byte(rng),
        )
    offset = layout.phoff + index * PHDR_SIZE + rng.choice(PHDR_FIELDS)
    return Mutation("patch", f"program header {index}", offset, _random_byte(rng))


def _note_flip(core, layout, notes, rng):  # type: ignore[no-untyped-def]
    note = rng.choice(notes)
    if rng.random() < 0.4 or note.desc_size == 0:
        return Mutation(
            "patch", f"header of {note.name}", note.offset + rng.randrange(12), _random_byte(rng)
        )
    offset = note.desc_offset + rng.randrange(note.desc_size)
    return Mutation("patch", f"inside {note.name}", offset, _random_byte(rng))


def _pointer_flip(core, layout, notes, rng):  # type: ignore[no-untyped-def]
    """A pointer in writable memory (the interpreter's objects) made to point elsewhere."""
    flags = _phdr_flags(core, layout)
    writable = [s for s, f in zip(layout.segments, flags) if s.type == elf.PT_LOAD and f & PF_W]
    writable = [s for s in writable if s.filesz >= 8]
    ranges = [(s.vaddr, s.vaddr + s.memsz) for s in layout.segments if s.type == elf.PT_LOAD]
    if not writable:
        return None
    with open(core, "rb") as stream:
        for _ in range(4000):
            segment = rng.choice(writable)
            offset = segment.offset + rng.randrange(segment.filesz // 8) * 8
            stream.seek(offset)
            (value,) = struct.unpack("<Q", stream.read(8))
            if value and any(lo <= value < hi for lo, hi in ranges):
                new = rng.choice((0, value ^ (1 << rng.randrange(8, 48)), value + 8, 2**64 - 1))
                return Mutation(
                    "patch", f"pointer {value:#x} in data", offset, struct.pack("<Q", new)
                )
    return None
