"""The ordered rules that turn a stack into signature tokens (first matching rule decides).

Each rule is a predicate and an action, after Socorro's siglists: ``skip`` drops the frame,
``cut`` drops the frame and everything collected between it and the crash point (crash-handling
code ran after the bug), ``keep`` makes it a token. Every decision is noted, so that
``triage show --explain`` can say why a frame is or is not in the signature.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..model import Frame, FrameKind
from ..stack import Origin, frame_origin
from .config import SignatureConfig
from .normalize import native_token, python_display, python_token

# Bump when a rule or a bundled list changes in a way that changes signatures; stored with
# every crash and group, so a database knows which crashes `triage resign` would move.
# 3: Python tokens are module:function on every version; libffi/ctypes glue always skipped;
#    hangs are signed by the Python code that waits.
RULES_VERSION = "3"
# Frames examined from the crash point outward; a deeper sentinel would be handling code of a
# nested crash, which the kernel never records.
MAX_FRAMES_EXAMINED = 200

Action = Literal["skip", "cut", "keep"]


@dataclass(frozen=True)
class Token:
    kind: FrameKind
    text: str | None  # what is hashed; None: a native frame without a symbol
    origin: Origin = Origin.NATIVE_LIBRARY
    display: str | None = None  # what people read (a Python qualname); defaults to text

    def __eq__(self, other: object) -> bool:  # the recursion rule compares what is hashed
        return isinstance(other, Token) and (self.kind, self.text) == (other.kind, other.text)

    def __hash__(self) -> int:
        return hash((self.kind, self.text))

    @property
    def shown(self) -> str:
        return self.display or self.text or ""


@dataclass(frozen=True)
class Rule:
    name: str
    action: Action
    applies: Callable[[Token, SignatureConfig, list[Token]], bool]


def _matches(
    list_name: str, kind: FrameKind
) -> Callable[[Token, SignatureConfig, list[Token]], bool]:
    def applies(token: Token, config: SignatureConfig, kept: list[Token]) -> bool:
        pattern = config.pattern(list_name)
        if token.kind is not kind or token.text is None or pattern is None:
            return False
        return _listed(pattern, token.text, token.shown)

    return applies


# Cached: every core a worker signs asks about the same few thousand names.
@functools.lru_cache(maxsize=1 << 16)
def _listed(pattern: re.Pattern[str], text: str, shown: str) -> bool:
    # Lists may name a Python frame by its function or by its qualname (3.11+).
    return bool(pattern.match(text) or pattern.match(shown))


RULES: tuple[Rule, ...] = (
    Rule("no-symbol", "skip", lambda token, config, kept: token.text is None),
    # CPython's own C code between Python frames (list.sort, ctypes and libffi plumbing)
    # differs between versions for the same bug; the Python frames it ran are in the stack.
    # Where the crash itself is in CPython's code (nothing kept yet), those frames count.
    Rule("sentinel", "cut", _matches("sentinels", FrameKind.NATIVE)),
    # libffi and ctypes pass a foreign call along; the function they called is the bug's place
    # whatever libffi (bundled in 2.7, the system's in 3.x) named its trampolines.
    Rule("interpreter-machinery", "skip", _matches("machinery_native", FrameKind.NATIVE)),
    Rule(
        "interpreter-native",
        "skip",
        lambda token, config, kept: token.origin is Origin.INTERPRETER and bool(kept),
    ),
    Rule("signal-or-thread-base", "skip", _matches("skip_native", FrameKind.NATIVE)),
    Rule("python-machinery", "skip", _matches("skip_python", FrameKind.PYTHON)),
    # Direct recursion: the depth varies between occurrences of the same bug.
    Rule("recursion", "skip", lambda token, config, kept: bool(kept) and kept[-1] == token),
    Rule("meaningful", "keep", lambda token, config, kept: True),
)


# A hang is the code that waits: its Python frames. The native frames under them are the wait
# primitive of the day (futex, semaphore, poll: they differ between versions and libcs), and
# the standard library's own waiting functions (Event.wait, Condition.wait, Queue.get) are the
# same for every hang; they count only when nothing else is left.
HANG_RULES: tuple[Rule, ...] = (
    Rule("hang-native", "skip", lambda token, config, kept: token.kind is FrameKind.NATIVE),
    Rule("python-machinery", "skip", _matches("skip_python", FrameKind.PYTHON)),
    Rule("recursion", "skip", lambda token, config, kept: bool(kept) and kept[-1] == token),
    Rule("hang-stdlib", "skip", lambda token, config, kept: token.origin is Origin.STDLIB),
    Rule("meaningful", "keep", lambda token, config, kept: True),
)


def tokenize(frame: Frame, config: SignatureConfig) -> Token:
    origin = frame_origin(frame, config.app_roots)
    if frame.kind is FrameKind.NATIVE:
        return Token(FrameKind.NATIVE, native_token(frame), origin)
    return Token(
        FrameKind.PYTHON,
        python_token(frame, config.app_roots),
        origin,
        python_display(frame, config.app_roots),
    )


def apply_rules(
    frames: Sequence[Frame], config: SignatureConfig, hang: bool = False
) -> tuple[list[Token], list[str]]:
    """Tokens from the crash point outward (FRAMES is in call order), and the notes."""
    tokens, notes = _apply(frames, config, HANG_RULES if hang else RULES)
    if hang and not tokens:  # the waiting code is all standard library: name it
        without_stdlib = tuple(rule for rule in HANG_RULES if rule.name != "hang-stdlib")
        tokens, more = _apply(frames, config, without_stdlib)
        notes += ["only standard-library frames wait: they are the signature", *more]
    return tokens, notes


def _apply(
    frames: Sequence[Frame], config: SignatureConfig, rules: Sequence[Rule]
) -> tuple[list[Token], list[str]]:
    kept: list[Token] = []
    notes: list[str] = []
    for frame in list(reversed(frames))[:MAX_FRAMES_EXAMINED]:
        token = tokenize(frame, config)
        rule = next(rule for rule in rules if rule.applies(token, config, kept))
        label = token.shown or f"<{token.kind.value} frame without symbol>"
        if rule.action == "cut":
            notes.append(f"cut at {label} ({rule.name}): dropped {len(kept)} frame(s) above it")
            kept.clear()
        elif rule.action == "skip":
            notes.append(f"skipped {label} ({rule.name})")
        else:
            kept.append(token)
            if len(kept) <= config.frames:
                notes.append(f"kept {label}")
    return kept[: config.frames], notes
