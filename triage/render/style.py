"""ANSI colours as PyStack emits them, and escaping of untrusted text before it is printed."""

from __future__ import annotations

import os
import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import TextIO

RESET = "\033[0m"
# Codes of termcolor, which PyStack's colors.py copies.
_CODES = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "faint": 2}

# C0 and C1 controls, DEL, line/paragraph separators and bidi overrides ("Trojan Source"): in
# a file or function name taken from a core they could break the layout or drive the terminal.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape(text: str) -> str:
    """Make text from a core printable on one line: control characters become escapes."""
    return _UNSAFE.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def color_enabled(stream: TextIO, no_color: bool = False) -> bool:
    """Colours only on a terminal, never with --no-color or a non-empty NO_COLOR (no-color.org)."""
    if no_color or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


class Palette:
    """Applies colours when enabled; the same text, unchanged, when not."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def paint(self, text: str, color: str) -> str:
        # PyStack's colored() means to strip nested colours but its reset regex never matches,
        # so nested sequences stay; we nest the same way to produce the same bytes.
        if not self.enabled:
            return text
        return f"\033[{_CODES[color]}m{text}{RESET}"

    def red(self, text: str) -> str:
        return self.paint(text, "red")

    def green(self, text: str) -> str:
        return self.paint(text, "green")

    def yellow(self, text: str) -> str:
        return self.paint(text, "yellow")

    def blue(self, text: str) -> str:
        return self.paint(text, "blue")

    def faint(self, text: str) -> str:
        return self.paint(text, "faint")
