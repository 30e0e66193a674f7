"""The per-day crash counts of a group over its active window, and their inline SVG sparkline.

The window runs from the group's first crash (at most ``MAX_WINDOW_DAYS`` back) to today, and
never shorter than ``MIN_WINDOW_DAYS``: a group that started yesterday gets wide bars instead
of one 3 px bar at the end of a month. It always ends today, so that a group that went quiet
shows its silence. The drawing is ``TARGET_WIDTH`` px wide whatever the window, so that rows
line up in the index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

WINDOW_DAYS = 30  # the default window, when the group's first crash is not known
MAX_WINDOW_DAYS = 90  # how far back the store is read for trends (queries.group_facts)
MIN_WINDOW_DAYS = 7
RECENT_DAYS = 7  # "crashes in the last 7 days": the index's first sort key
TARGET_WIDTH = 90
HEIGHT = 20


@dataclass(frozen=True)
class Sparkline:
    """Counts per day, oldest first, ending on ``end`` (inclusive)."""

    counts: tuple[int, ...]
    end: date

    @property
    def start(self) -> date:
        return self.end - timedelta(days=len(self.counts) - 1)

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)

    @property
    def slot(self) -> int:
        """Pixels per day: the bar and the gap after it."""
        return max(1, TARGET_WIDTH // max(1, len(self.counts)))

    @property
    def bar_width(self) -> int:
        # A gap only where there is room for it: 90 one-pixel days are a continuous area.
        return self.slot - 1 if self.slot >= 3 else self.slot

    @property
    def width(self) -> int:
        return len(self.counts) * self.slot

    @property
    def height(self) -> int:
        return HEIGHT

    @property
    def bars(self) -> str:
        """One SVG path of a bar per day with crashes: one element is cheaper than 90 rects.

        Built from numbers only, so nothing from a core can reach the markup.
        """
        peak = self.peak
        if peak == 0:
            return ""
        steps = []
        slot, bar = self.slot, self.bar_width
        for day, count in enumerate(self.counts):
            if count:
                # At least 2px so that a single crash on a busy group stays visible.
                tall = max(2, round(count * HEIGHT / peak))
                steps.append(f"M{day * slot} {HEIGHT}v-{tall}h{bar}v{tall}z")
        return "".join(steps)

    @property
    def label(self) -> str:
        days = len(self.counts)
        span = f"the {days} days {self.start.isoformat()} to {self.end.isoformat()}"
        if self.total == 0:
            return f"no crashes in {span}"
        return (
            f"{self.total} crash{'es' if self.total != 1 else ''} in {span}, "
            f"at most {self.peak} a day"
        )


def sparkline(days: Mapping[date, int], end: date, window: int = WINDOW_DAYS) -> Sparkline:
    first = end - timedelta(days=window - 1)
    return Sparkline(
        tuple(days.get(first + timedelta(days=offset), 0) for offset in range(window)), end
    )


def active_window(first_seen: date | None, end: date) -> int:
    """Days from the group's first crash to ``end``, within the bounds above."""
    if first_seen is None:
        return WINDOW_DAYS
    days = (end - first_seen).days + 1
    return min(MAX_WINDOW_DAYS, max(MIN_WINDOW_DAYS, days))


def recent(days: Mapping[date, int], end: date, window: int = RECENT_DAYS) -> int:
    """Crashes in the ``window`` days to ``end`` (inclusive)."""
    first = end - timedelta(days=window - 1)
    return sum(count for day, count in days.items() if first <= day <= end)
