"""Locals across a group: how the values of the top frames' locals spread over its crashes.

One crash's locals say what happened once; the same local over 200 crashes says what the bug
needs (``addr`` is 0 every time) or what it does not care about (``user_id`` takes 198
values). The frames are those of the thread the signature describes (``crashing_thread``), the
innermost Python frames first, as many as the signature counts by default.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..model import Analysis, Frame
from ..signature.config import DEFAULT_FRAMES
from ..stack import crashing_thread

SPREAD_FRAMES = DEFAULT_FRAMES  # the frames a signature is made of, counted from the crash
TOP_VALUES = 3
MAX_VALUE_CHARS = 120  # a repr can be a whole dict: the table shows its start


@dataclass(frozen=True)
class ValueShare:
    value: str
    count: int
    percent: int  # of the crashes where the variable was recorded


@dataclass(frozen=True)
class VariableSpread:
    name: str
    argument: bool
    seen: int  # crashes of the sample where this frame recorded the variable
    distinct: int
    top: tuple[ValueShare, ...]  # most frequent first, at most TOP_VALUES

    @property
    def summary(self) -> str:
        """``addr: 0 in 100% of 212``, ``user_id: 198 distinct of 212``."""
        if not self.top:
            return f"not recorded in {self.seen}"
        first = self.top[0]
        if self.distinct == 1:
            return f"{first.value} in 100% of {self.seen}"
        if first.count == 1:
            return f"{self.distinct} distinct of {self.seen}, none repeated"
        return f"{self.distinct} distinct of {self.seen}"

    @property
    def constant(self) -> bool:
        return self.distinct == 1 and self.seen > 1


@dataclass(frozen=True)
class FrameSpread:
    function: str
    file: str | None
    depth: int  # 0: the innermost Python frame of the signed thread
    crashes: int  # crashes of the sample in which this frame had locals
    variables: tuple[VariableSpread, ...]


@dataclass(frozen=True)
class LocalsSpread:
    sample: int  # analyses read (the newest of the group, bounded)
    total: int  # crashes in the group
    frames: tuple[FrameSpread, ...]


class _Tally:
    def __init__(self, function: str, file: str | None, depth: int) -> None:
        self.function, self.file, self.depth = function, file, depth
        self.crashes = 0
        self.values: dict[str, Counter[str]] = {}
        self.arguments: set[str] = set()

    def add(self, frame: Frame) -> None:
        self.crashes += 1
        for names, is_argument in ((frame.arguments, True), (frame.locals, False)):
            for name, value in names or ():
                self.values.setdefault(name, Counter())[_short(value)] += 1
                if is_argument:
                    self.arguments.add(name)

    def spread(self) -> FrameSpread:
        variables = []
        for name, counts in self.values.items():
            seen = sum(counts.values())
            top = tuple(
                ValueShare(value, count, round(100 * count / seen))
                for value, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[
                    :TOP_VALUES
                ]
            )
            variables.append(VariableSpread(name, name in self.arguments, seen, len(counts), top))
        return FrameSpread(self.function, self.file, self.depth, self.crashes, tuple(variables))


def _short(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 1] + "…"


def top_python_frames(analysis: Analysis, limit: int = SPREAD_FRAMES) -> list[Frame]:
    """The innermost Python frames of the signed thread, crash point first."""
    thread = crashing_thread(analysis).thread
    if thread is None:
        return []
    python = [frame for frame in reversed(thread.frames) if frame.is_python]
    return python[:limit]


def locals_spread(analyses: Iterable[Analysis], total: int) -> LocalsSpread | None:
    """The spread of each top frame's locals; None when no crash recorded any locals.

    A frame is the same frame across crashes when its function and file are: the crash point
    may be a frame deeper in one crash than another, and recursion repeats a function, of which
    the innermost occurrence is counted.
    """
    tallies: dict[tuple[str, str | None], _Tally] = {}
    sample = 0
    for analysis in analyses:
        sample += 1
        seen: set[tuple[str, str | None]] = set()
        for depth, frame in enumerate(top_python_frames(analysis)):
            key = (frame.function, frame.file)
            if key in seen or (frame.arguments is None and frame.locals is None):
                continue
            seen.add(key)
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = _Tally(frame.function, frame.file, depth)
            tally.add(frame)
    frames = [tally.spread() for tally in tallies.values() if tally.values]
    if not frames:
        return None
    frames.sort(key=lambda frame: (frame.depth, -frame.crashes))
    return LocalsSpread(sample, max(total, sample), tuple(frames[:SPREAD_FRAMES]))
