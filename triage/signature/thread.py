"""Which thread a signature describes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def crashing_thread(
    threads: Sequence[Mapping[str, Any]],
) -> tuple[Mapping[str, Any] | None, str]:
    """The thread that took the fatal signal, else the GIL holder, else the first Python one.

    The second value says which rule chose it (shown by ``--explain``). A core taken on demand
    (gcore) has no crashed thread: the GIL holder is then the one running Python code.
    """
    for thread in threads:
        if thread.get("crashed"):
            return thread, "the thread that received the signal"
    for thread in threads:
        if thread.get("gil") == "held":
            return thread, "no thread received a signal: the GIL holder"
    for thread in threads:
        if thread.get("python", True) and thread.get("frames"):
            return thread, "no signal, no GIL holder: the first thread with Python frames"
    for thread in threads:
        if thread.get("frames"):
            return thread, "the first thread with frames"
    return None, "no thread has frames"
