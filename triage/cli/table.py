"""Plain-text tables and CSV for the query commands."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ..render.style import escape

MIN_LAST = 20  # the last column (a signature, a path) keeps at least this much
LAST_SHARE = 0.45  # ... and this share of the terminal before other columns give way
MIN_CELL = 6


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    out: TextIO = sys.stdout,
    wide: bool = False,
    optional: Sequence[int] = (),
) -> None:
    """Columns padded to their widest cell, fitted to the terminal.

    On a terminal (and without WIDE) the table is made to fit: the last column (a signature, a
    path) is shortened in the middle, so that both its start (the signal, the crash point) and
    its end stay readable, down to a share of the width; then the OPTIONAL columns (indices, in
    the order they may go) are left out, then the widest others narrowed. The last column is
    never dropped. Piped output is never cut.
    """
    cells = [[_cell(value) for value in row] for row in rows]
    table = [list(headers), *cells]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    total = shutil.get_terminal_size((120, 24)).columns if out.isatty() and not wide else None
    shown = list(range(len(headers)))
    if total:
        shown, widths = fit(widths, total, optional)
    for row in table:
        fitted = [middle(row[i], widths[i]) for i in shown]
        padded = [value.ljust(widths[i]) for value, i in zip(fitted[:-1], shown[:-1])]
        line = "  ".join(padded)
        line = f"{line}  {fitted[-1]}" if line else fitted[-1]
        print(line.rstrip(), file=out)


def fit(widths: list[int], total: int, optional: Sequence[int] = ()) -> tuple[list[int], list[int]]:
    """(columns shown, widths) whose line fits in TOTAL characters, two spaces between."""
    widths = list(widths)
    last = len(widths) - 1
    shown = list(range(len(widths)))

    def excess() -> int:
        return sum(widths[i] for i in shown) + 2 * (len(shown) - 1) - total

    widths[last] -= min(
        max(0, excess()), max(0, widths[last] - max(MIN_LAST, int(total * LAST_SHARE)))
    )
    for column in optional:
        if excess() <= 0:
            break
        if column in shown and column != last:
            shown.remove(column)
    while excess() > 0:
        narrowable = [i for i in shown[:-1] if widths[i] > MIN_CELL]
        if not narrowable:
            break
        widest = max(narrowable, key=lambda i: widths[i])
        widths[widest] -= min(excess(), widths[widest] - MIN_CELL)
    if excess() > 0:
        widths[last] -= min(excess(), max(0, widths[last] - MIN_LAST))
    return shown, widths


def line_fitter(out: TextIO = sys.stdout, wide: bool = False) -> Callable[[str], str]:
    """Shortens a line in the middle to the terminal's width (on a terminal, without WIDE)."""
    if wide or not out.isatty():
        return lambda line: line
    width = shutil.get_terminal_size((120, 24)).columns
    return lambda line: middle(line, width)


def middle(text: str, width: int) -> str:
    """TEXT in WIDTH characters, shortened in the middle with an ellipsis."""
    if len(text) <= width:
        return text
    if width < 3:
        return text[:width]
    head = (width - 1) // 2 + (width - 1) % 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value) or "-"
    # Values come from cores and sidecars: never let them move the cursor or add lines.
    return escape(" ".join(str(value).splitlines()))


def print_csv(
    headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO = sys.stdout
) -> None:
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(
            [
                ";".join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else v)
                for v in row
            ]
        )


def print_json(data: Any, out: TextIO = sys.stdout) -> None:
    json.dump(data, out, indent=2, ensure_ascii=True)
    out.write("\n")


def short_time(iso: str | None) -> str | None:
    """``2024-05-01T12:03:04.123+00:00`` → ``2024-05-01 12:03``."""
    return iso[:16].replace("T", " ") if iso else None
