"""The ordered rules that turn a stack into signature tokens (first matching rule decides).

Each rule is a predicate and an action, after Socorro's siglists: ``skip`` drops the frame,
``cut`` drops the frame and everything collected between it and the crash point (crash-handling
code ran after the bug), ``keep`` makes it a token. Every decision is noted, so that
``triage show --explain`` can say why a frame is or is not in the signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .config import SignatureConfig
from .normalize import native_origin, native_token, python_origin, python_token

# Bump when a rule or a bundled list changes in a way that changes signatures; stored with
# every crash and group, so a database knows which crashes `triage resign` would move.
RULES_VERSION = "2"
# Frames examined from the crash point outward; a deeper sentinel would be handling code of a
# nested crash, which the kernel never records.
MAX_FRAMES_EXAMINED = 200

Action = Literal["skip", "cut", "keep"]


@dataclass(frozen=True)
class Token:
    kind: str  # "python" or "native"
    text: str | None  # None: a native frame without a symbol
    # Python: "app", "stdlib" or "package"; native: "interpreter" for CPython's own code
    # (libpython, the python executable, stdlib extension modules, libffi), else "native".
    origin: str = "native"


@dataclass(frozen=True)
class Rule:
    name: str
    action: Action
    applies: Callable[[Token, SignatureConfig, list[Token]], bool]


def _matches(list_name: str, kind: str) -> Callable[[Token, SignatureConfig, list[Token]], bool]:
    def applies(token: Token, config: SignatureConfig, kept: list[Token]) -> bool:
        pattern = config.pattern(list_name)
        return (
            token.kind == kind
            and token.text is not None
            and bool(pattern and pattern.match(token.text))
        )

    return applies


RULES: tuple[Rule, ...] = (
    Rule("no-symbol", "skip", lambda token, config, kept: token.text is None),
    # CPython's own C code between Python frames (list.sort, ctypes and libffi plumbing)
    # differs between versions for the same bug; the Python frames it ran are in the stack.
    # Where the crash itself is in CPython's code (nothing kept yet), those frames count.
    Rule("sentinel", "cut", _matches("sentinels", "native")),
    Rule(
        "interpreter-native",
        "skip",
        lambda token, config, kept: token.origin == "interpreter" and bool(kept),
    ),
    Rule("signal-or-thread-base", "skip", _matches("skip_native", "native")),
    Rule("interpreter-machinery", "skip", _matches("machinery_native", "native")),
    Rule("python-machinery", "skip", _matches("skip_python", "python")),
    # Direct recursion: the depth varies between occurrences of the same bug.
    Rule("recursion", "skip", lambda token, config, kept: bool(kept) and kept[-1] == token),
    Rule("meaningful", "keep", lambda token, config, kept: True),
)


def tokenize(frame: Mapping[str, Any], config: SignatureConfig) -> Token:
    if frame.get("kind", "python") == "native":
        return Token("native", native_token(frame), native_origin(frame))
    return Token(
        "python",
        python_token(frame, config.app_roots),
        python_origin(frame.get("file"), config.app_roots),
    )


def apply_rules(
    frames: Sequence[Mapping[str, Any]], config: SignatureConfig
) -> tuple[list[Token], list[str]]:
    """Tokens from the crash point outward (FRAMES is in call order), and the notes."""
    kept: list[Token] = []
    notes: list[str] = []
    for frame in list(reversed(frames))[:MAX_FRAMES_EXAMINED]:
        token = tokenize(frame, config)
        rule = next(rule for rule in RULES if rule.applies(token, config, kept))
        label = token.text or f"<{token.kind} frame without symbol>"
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
