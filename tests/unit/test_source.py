"""Source lines under Python frames: read once, any encoding, never failing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from triage.model import Frame, Thread
from triage.render.source import SourceCache
from triage.render.style import Palette
from triage.render.text import thread_lines


def _lines(path: Path, line: int | None) -> list[str]:
    frame = Frame(kind="python", function="f", file=str(path), line=line)
    return list(thread_lines(Thread(tid=1, frames=(frame,)), Palette(False), SourceCache()))[1:]


def test_source_line_stripped_and_indented(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("def f():\n    return  compute(x)   \n")
    assert _lines(path, 2) == [
        f'    (Python) File "{path}", line 2, in f',
        "        return  compute(x)",
    ]


def test_blank_source_line_like_pystack(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("\n\n")
    assert _lines(path, 2)[1] == "        "


@pytest.mark.parametrize("line", [None, 0, 3, 100])
def test_no_source_line_outside_the_file(tmp_path: Path, line: int | None) -> None:
    path = tmp_path / "m.py"
    path.write_text("a = 1\nb = 2\n")
    assert len(_lines(path, line)) == 1


def test_missing_file(tmp_path: Path) -> None:
    assert len(_lines(tmp_path / "gone.py", 1)) == 1


def test_pseudo_file_names_are_not_opened() -> None:
    assert SourceCache().line("<frozen importlib._bootstrap>", 1) is None
    assert SourceCache().line("", 1) is None
    assert SourceCache().line("a\0b", 1) is None


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(b"x = 1\ns = '\xff\xfe caf\xe9'\n")
    assert SourceCache().line(str(path), 2) == "s = '\ufffd\ufffd caf\ufffd'"


def test_pep263_cookie(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\ns = 'caf\xe9'\n")
    assert SourceCache().line(str(path), 2) == "s = 'café'"


def test_unknown_cookie_falls_back_to_utf8(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(b"# coding: no-such-codec\ns = 'caf\xc3\xa9'\n")
    assert SourceCache().line(str(path), 2) == "s = 'café'"


def test_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(b"\xef\xbb\xbfa = 1\n")
    assert SourceCache().line(str(path), 1) == "a = 1"


def test_universal_newlines_only(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(b"a = 1\r\nb = 2\rc = '\x0c\xe2\x80\xa8'\nd = 4")
    cache = SourceCache()
    assert [cache.line(str(path), n) for n in (1, 2, 3, 4, 5)] == [
        "a = 1",
        "b = 2",
        "c = '\x0c\u2028'",
        "d = 4",
        None,
    ]


def test_binary_file_has_no_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.so"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\nmore\n")
    assert SourceCache().line(str(path), 1) is None


def test_directory_and_fifo_are_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cache = SourceCache()
    assert cache.line(str(fifo), 1) is None  # must not block waiting for a writer
    assert cache.line(str(tmp_path), 1) is None


def test_size_cap_drops_the_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    path.write_text("a = 1\nbbbbbbbbbbbb = 2\n")
    cache = SourceCache(max_bytes=10)
    assert cache.line(str(path), 1) == "a = 1"
    assert cache.line(str(path), 2) is None


def test_files_are_read_once(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("old = 1\n")
    cache = SourceCache()
    assert cache.line(str(path), 1) == "old = 1"
    path.write_text("new = 2\n")
    assert cache.line(str(path), 1) == "old = 1"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.py"
    path.write_text("a = 1\n")

    def denied(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)  # as root, chmod 0 would not stop us
    assert SourceCache().line(str(path), 1) is None


def test_escape_sequences_in_source_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(b"s = '\x1b[2J'\n")
    assert _lines(path, 1)[1] == "        s = '\\x1b[2J'"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"#!/usr/bin/env python\n# coding: latin-1\n", "s = 'café'"),  # line 2 counts
        (b"#!/usr/bin/env python\n\n# coding: latin-1\n", "s = 'caf\ufffd'"),  # line 3 does not
    ],
)
def test_cookie_only_on_the_first_two_lines(tmp_path: Path, head: bytes, expected: str) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(head + b"s = 'caf\xe9'\n")
    line = len(head.splitlines()) + 1
    assert SourceCache().line(str(path), line) == expected
