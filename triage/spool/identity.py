"""The identity (device, inode) of a spool file, recorded at intake and checked before use.

Between intake and analysis anyone who can write to the spool may replace a core, e.g. by a
symbolic link to a file outside the spool. The intake records the identity of the file it
hashed in the crash's context (``"_identity": {"dev", "ino", "size", "mtime_ns",
"ctime_ns"}``); ``open_verified`` opens the path again without following a link and refuses
anything but that same regular file. The caller then reads through the descriptor
(``/proc/self/fd/N`` for code that wants a path).

Device and inode alone are not enough: a file deleted and replaced at once often gets the same
inode number back. Its change time (ctime) cannot be set by anyone but the kernel, so it tells
the new file from the old one; size and mtime are kept for a clearer message.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from ..errors import InputError
from .names import real_path

IDENTITY_KEY = "_identity"
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


_CHECKED = ("size", "mtime_ns", "ctime_ns")


def identity_of(info: os.stat_result) -> dict[str, int]:
    return {
        "dev": info.st_dev,
        "ino": info.st_ino,
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "ctime_ns": info.st_ctime_ns,
    }


def open_verified(path: str, dev: int, ino: int, **expected: int | None) -> int:
    """A descriptor of PATH if it is still the regular file (DEV, INO); InputError otherwise.

    EXPECTED may add ``size``, ``mtime_ns`` and ``ctime_ns`` (as ``identity_of`` records them).
    """
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # with O_NOFOLLOW: the last component is a link
            raise InputError(f"{path} was replaced by a symbolic link: not followed") from None
        raise InputError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path} is no longer a regular file")
        now = identity_of(info)
        if (info.st_dev, info.st_ino) != (dev, ino) or any(
            expected.get(key) is not None and now[key] != expected[key] for key in _CHECKED
        ):
            raise InputError(f"{path} was replaced by another file since it was queued")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_recorded(path: str, context: dict[str, Any] | None) -> int:
    """``open_verified`` with what the intake recorded in a crash's CONTEXT (path bytes too).

    A crash recorded before identities were kept has none: it is still opened without
    following a link, and must be a regular file.
    """
    target = real_path(path, context)
    recorded = (context or {}).get(IDENTITY_KEY)
    if isinstance(recorded, dict) and isinstance(recorded.get("dev"), int):
        extra = {key: recorded.get(key) for key in _CHECKED if isinstance(recorded.get(key), int)}
        return open_verified(target, recorded["dev"], int(recorded.get("ino", -1)), **extra)
    try:
        info = os.lstat(target)
    except OSError as exc:  # gone since it was queued: the same one line as open_verified's
        raise InputError(f"cannot open {target}: {exc.strerror or exc}") from None
    return open_verified(target, info.st_dev, info.st_ino)
