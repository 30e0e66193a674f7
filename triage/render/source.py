"""Source lines for Python frames, read from this machine's files once per run."""

from __future__ import annotations

import codecs
import io
import os
import re
import stat

# Enough for any hand-written module; a bigger (generated) file shows lines up to this point.
MAX_SOURCE_BYTES = 8 * 1024 * 1024

# Universal newlines, as `open(path).readlines()` (what PyStack uses) splits them. Not
# str.splitlines(), which also splits on form feeds and U+2028 and would shift line numbers.
_NEWLINES = re.compile(r"\r\n|\r|\n")


class SourceCache:
    """Maps a file name to its lines; unreadable, special or binary files have none."""

    def __init__(self, max_bytes: int = MAX_SOURCE_BYTES) -> None:
        self._max_bytes = max_bytes
        self._files: dict[str, list[str] | None] = {}

    def line(self, filename: str, lineno: int | None) -> str | None:
        """Line ``lineno`` (1-based) of ``filename`` without its newline, or None."""
        if lineno is None or lineno < 1:
            return None
        if filename not in self._files:
            self._files[filename] = self._load(filename)
        lines = self._files[filename]
        if lines is None or lineno > len(lines):
            return None
        return lines[lineno - 1]

    def _load(self, filename: str) -> list[str] | None:
        # Names such as "<string>" or "<frozen importlib._bootstrap>" are not files.
        if not filename or filename.startswith("<") or "\0" in filename:
            return None
        data, complete = self._read(filename)
        if data is None or b"\0" in data:
            return None  # CPython refuses NUL bytes in source: this is not a source file
        text = _decode(data)
        lines = _NEWLINES.split(text)
        if text.endswith(("\n", "\r")):
            lines.pop()  # the text after the final newline is not a line
        elif not complete and lines:
            lines.pop()  # cut in the middle of a line by the size cap
        return lines

    def _read(self, filename: str) -> tuple[bytes | None, bool]:
        try:
            # O_NONBLOCK: a FIFO named by a crafted core must not hang the run on open().
            fd = os.open(filename, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except (OSError, ValueError):
            return None, False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None, False  # devices, FIFOs, directories
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(self._max_bytes + 1)
        except OSError:
            return None, False
        finally:
            os.close(fd)
        if len(data) > self._max_bytes:
            return data[: self._max_bytes], False
        return data, True


def _may_declare_encoding(data: bytes) -> bool:
    """A BOM, or "coding" on the first two lines: where PEP 263 puts an encoding cookie."""
    first = data.find(b"\n")
    second = data.find(b"\n", first + 1) if first >= 0 else -1
    head = data if second < 0 else data[:second]
    return data.startswith(codecs.BOM_UTF8) or b"coding" in head


def _decode(data: bytes) -> str:
    """Decode as Python does (BOM, PEP 263 cookie, else UTF-8), never failing."""
    encoding = "utf-8"
    if _may_declare_encoding(data):
        import tokenize  # only for a file that may declare its encoding: it is slow to import

        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            codecs.lookup(encoding)
        except (SyntaxError, LookupError):
            encoding = "utf-8"  # bad or unknown cookie, or invalid UTF-8 on the first lines
    try:
        return data.decode(encoding, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return data.decode("utf-8", errors="replace")
