"""The ground truth a scenario records about its own threads just before it crashes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple


class Frame(NamedTuple):
    file: str
    function: str
    line: int

    def __str__(self) -> str:
        return f'File "{self.file}", line {self.line}, in {self.function}'


@dataclass(frozen=True)
class ThreadTruth:
    ident: int
    tid: int | None
    name: str | None
    crashed: bool
    frames: tuple[Frame, ...]


@dataclass(frozen=True)
class Truth:
    mode: str
    pid: int
    ppid: int
    version: tuple[int, ...]
    threads: tuple[ThreadTruth, ...]

    @property
    def crashed_thread(self) -> ThreadTruth:
        (thread,) = (t for t in self.threads if t.crashed)
        return thread

    @property
    def by_tid(self) -> dict[int | None, ThreadTruth]:
        return {t.tid: t for t in self.threads}


def load_truth(path: Path) -> Truth:
    data = json.loads(path.read_text(encoding="ascii"))
    return Truth(
        mode=data["mode"],
        pid=data["pid"],
        ppid=data["ppid"],
        version=tuple(data["version"]),
        threads=tuple(_thread(t) for t in data["threads"]),
    )


def _thread(data: dict[str, Any]) -> ThreadTruth:
    frames = tuple(Frame(f["file"], f["function"], f["line"]) for f in data["frames"])
    return ThreadTruth(data["ident"], data["tid"], data["name"], data["crashed"], frames)
