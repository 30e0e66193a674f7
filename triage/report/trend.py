"""The per-day crash counts of a group over a window, and their inline SVG sparkline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

WINDOW_DAYS = 30
BAR_WIDTH = 3
BAR_GAP = 1
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
    def width(self) -> int:
        return len(self.counts) * (BAR_WIDTH + BAR_GAP)

    @property
    def height(self) -> int:
        return HEIGHT

    @property
    def bars(self) -> str:
        """One SVG path of a bar per day with crashes: one element is cheaper than 30 rects.

        Built from numbers only, so nothing from a core can reach the markup.
        """
        peak = self.peak
        if peak == 0:
            return ""
        steps = []
        for day, count in enumerate(self.counts):
            if count:
                # At least 2px so that a single crash on a busy group stays visible.
                tall = max(2, round(count * HEIGHT / peak))
                x = day * (BAR_WIDTH + BAR_GAP)
                steps.append(f"M{x} {HEIGHT}v-{tall}h{BAR_WIDTH}v{tall}z")
        return "".join(steps)

    @property
    def label(self) -> str:
        if self.total == 0:
            return f"no crashes in the {len(self.counts)} days to {self.end.isoformat()}"
        return (
            f"{self.total} crash{'es' if self.total != 1 else ''} in the {len(self.counts)} days "
            f"to {self.end.isoformat()}, at most {self.peak} a day"
        )


def sparkline(days: Mapping[date, int], end: date, window: int = WINDOW_DAYS) -> Sparkline:
    first = end - timedelta(days=window - 1)
    return Sparkline(
        tuple(days.get(first + timedelta(days=offset), 0) for offset in range(window)), end
    )
