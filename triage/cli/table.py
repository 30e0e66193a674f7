"""Plain-text tables and CSV for the query commands."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ..render.style import escape


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO = sys.stdout
) -> None:
    """Columns padded to their widest cell; the last column is cut to the terminal width."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for index, value in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(value))
    width = shutil.get_terminal_size((120, 24)).columns if out.isatty() else None
    for row in [list(headers), *cells]:
        line = "  ".join(value.ljust(widths[i]) for i, value in enumerate(row[:-1]))
        line = f"{line}  {row[-1]}" if line else row[-1]
        if width and len(line) > width:
            line = line[: width - 1] + "…"
        print(line.rstrip(), file=out)


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
