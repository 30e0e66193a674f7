"""The core_pattern pipe handler: one crash from the kernel into the spool, whole or not at all.

The kernel runs ``triage collect SPOOL %P %i %s %t %h %E`` as root, with the core on stdin, no
environment and ``/`` as working directory, and waits for it. The core goes to a dot-prefixed
temporary name (never a candidate for the watcher), is fsynced, its sidecar ``CORE.json`` is
put in place, and only then is the core renamed to its final name: the watcher sees a complete
core with its sidecar already there. A core that is not kept (size, disk, rate or time limit)
leaves a sidecar saying why and no core file. Whatever happens, the handler logs one line and
exits 0: the kernel can do nothing with a failure, and a traceback would go nowhere.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass

from . import config as settings
from .config import CollectConfig
from .procinfo import process_facts, text

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    import subprocess
    from typing import Any

CHUNK = 1 << 20
FREE_CHECK_BYTES = 16 << 20  # statvfs again after this much written: cheap, and in time
FULL_DISK_BYTES = 1 << 20  # less than this free after zstd failed: the disk filled up
NAME_LIMIT = 64  # of the executable part of a core's name
MODE = 0o640  # cores hold the memory of a process: not world-readable
STALE_TEMPORARY_SECONDS = 3600.0  # temporaries of a handler killed this long ago are removed
RATE_FILE = "rate.json"
LOG_NAME = "collect.log"


@dataclass(frozen=True)
class Crash:
    """What the kernel says on the command line; None where an argument was unusable."""

    spool: str
    pid: int | None
    tid: int | None
    signal: int | None
    time: int | None
    host: str | None
    executable: str | None  # %E with its "!" turned back into "/"


class Dropped(Exception):
    """The core is not kept; the message says why (it goes into the sidecar and the log)."""


class _TimeLimit(BaseException):
    """Raised from SIGALRM; a BaseException so that no `except Exception` swallows it."""


def parse(spool: str, words: list[str]) -> Crash:
    """PID TID SIGNAL TIME HOST EXE... as the pattern gives them; EXE may contain spaces."""

    def number(index: int) -> int | None:
        try:
            return int(words[index])
        except (IndexError, ValueError):
            return None

    host = words[4] if len(words) > 4 else None
    executable = " ".join(words[5:]).replace("!", "/") if len(words) > 5 else None
    return Crash(spool, number(0), number(1), number(2), number(3), host, executable or None)


def run(
    crash: Crash, config: CollectConfig, stdin: int = 0, note: str | None = None
) -> dict[str, Any]:
    """Collect one core from STDIN; returns the sidecar written (also on a drop). Never raises.

    NOTE (a configuration problem) goes into the sidecar and the log.
    """
    _standard_descriptors()
    started = time.monotonic()
    state = settings.state_directory(crash.spool)
    sidecar = _sidecar(crash)
    # Without the zstd binary the core is kept uncompressed: losing it would be worse.
    zstd = settings.zstd_binary(config) if config.compress == "zstd" else None
    if config.compress == "zstd" and zstd is None:
        note = "; ".join(filter(None, [note, "no zstd binary: stored uncompressed"]))
    if note:
        sidecar["collect_warning"] = note
    final = _unused(os.path.join(crash.spool, core_name(crash, compressed=zstd is not None)))
    temporary = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.tmp")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, config.time_limit)
    try:
        try:
            os.makedirs(state, mode=0o700, exist_ok=True)
            _sweep(crash.spool)
            sidecar.update(process_facts(crash.pid, config.environment) if crash.pid else {})
            _name_service(sidecar, config)
            if config.rate_limit and not _within_rate(state, sidecar, config):
                raise Dropped("rate limit")
            _check_free(crash.spool, config.min_free, 0)
            written, stored = _write_core(stdin, temporary, config, zstd)
            sidecar.update(core=os.path.basename(final), core_bytes=written, stored_bytes=stored)
            sidecar["compression"] = "zstd" if zstd else None
            sidecar["collect_seconds"] = round(time.monotonic() - started, 3)
            _write_json(final + ".json", sidecar, config.group)
            # From here on the core is kept: a time limit must not call it dropped.
            signal.setitimer(signal.ITIMER_REAL, 0)
            os.rename(temporary, final)
            _fsync_directory(crash.spool)
        except _TimeLimit:
            raise Dropped(f"time limit ({config.time_limit:g} s)") from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise Dropped("disk full") from None
            raise Dropped(f"{exc.strerror or exc} ({exc.filename or 'write'})") from None
    except Dropped as drop:
        _remove(temporary)
        sidecar.update(core=f"dropped: {drop}")
        sidecar["collect_seconds"] = round(time.monotonic() - started, 3)
        try:
            _write_json(final + ".json", sidecar, config.group)
        except (OSError, _TimeLimit) as exc:
            sidecar["sidecar_error"] = str(getattr(exc, "strerror", None) or "time limit")
    except Exception as exc:  # noqa: BLE001 - the handler must always exit 0 after logging
        _remove(temporary)
        sidecar.update(core=f"dropped: unexpected {type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    log(state, config, crash, sidecar)
    return sidecar


def core_name(crash: Crash, compressed: bool = False) -> str:
    """core.EXE.PID.TIME[.zst]: the name says what crashed; the sidecar says the rest."""
    base = os.path.basename(crash.executable or "") or "unknown"
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._+-") else "_" for c in base)
    stamp = crash.time if crash.time is not None else int(time.time())
    name = f"core.{safe[:NAME_LIMIT]}.{crash.pid if crash.pid is not None else 0}.{stamp}"
    return name + (".zst" if compressed else "")


def _unused(path: str) -> str:
    """PATH, or PATH.N: pids are reused, and a second crash must not replace the first."""
    candidate, number = path, 1
    while os.path.lexists(candidate) or os.path.lexists(candidate + ".json"):
        candidate, number = f"{path}.{number}", number + 1
    return candidate


def _signal_name(number: int) -> str:
    # As triage.model.signal_name, without importing the model (start-up time).
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def _sidecar(crash: Crash) -> dict[str, Any]:
    sidecar: dict[str, Any] = {
        "collector": "triage collect",
        "host": crash.host,
        "executable": crash.executable,
        "pid": crash.pid,
        "tid": crash.tid,
        "signal": crash.signal,
        "signal_name": _signal_name(crash.signal) if crash.signal else None,
        "time": crash.time,
    }
    if crash.time is not None:
        sidecar["time_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(crash.time))
    return sidecar


def _name_service(sidecar: dict[str, Any], config: CollectConfig) -> None:
    """`service` and `release` (columns of the crash) from allowed environment variables."""
    environment = sidecar.get("environment") or {}
    for key, variable in (
        ("service", config.service_variable),
        ("release", config.release_variable),
    ):
        if variable and environment.get(variable):
            sidecar[key] = environment[variable]


def _write_core(
    stdin: int, temporary: str, config: CollectConfig, zstd: str | None
) -> tuple[int, int]:
    """Copy STDIN into TEMPORARY (through ZSTD, a binary, if given); (bytes read, stored)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, MODE)
    compressor = None
    try:
        _give_to_group(fd, config.group)
        if zstd is not None:
            import subprocess  # only here: it costs start-up time, and the kernel waits

            compressor = subprocess.Popen(
                [zstd, "-q", f"-{max(1, min(config.zstd_level, 19))}", "-c"],
                stdin=subprocess.PIPE,
                stdout=fd,
                stderr=subprocess.DEVNULL,
                env={},
                cwd="/",
            )
        written = _pump(stdin, fd, compressor, os.path.dirname(temporary), config)
        if written == 0:
            raise Dropped("empty core (nothing on stdin)")
        if compressor is not None:
            assert compressor.stdin is not None
            try:
                compressor.stdin.close()
            except BrokenPipeError:
                pass  # zstd is gone: its exit status says more
            if compressor.wait() != 0:
                _zstd_failed(os.path.dirname(temporary), f"exit status {compressor.returncode}")
            compressor = None
        os.fsync(fd)
        return written, os.fstat(fd).st_size
    finally:
        if compressor is not None:
            compressor.kill()
            compressor.wait()
        os.close(fd)


def _pump(
    stdin: int,
    fd: int,
    compressor: subprocess.Popen[bytes] | None,
    spool: str,
    config: CollectConfig,
) -> int:
    written = 0
    unchecked = 0
    while True:
        chunk = os.read(stdin, CHUNK)
        if not chunk:
            return written
        written += len(chunk)
        if written > config.max_core_size:
            raise Dropped(f"larger than max_core_size ({config.max_core_size} bytes)")
        unchecked += len(chunk)
        if unchecked >= FREE_CHECK_BYTES:
            _check_free(spool, config.min_free, len(chunk))
            unchecked = 0
        if compressor is not None:
            assert compressor.stdin is not None
            try:
                compressor.stdin.write(chunk)
            except BrokenPipeError:
                _zstd_failed(spool, "it stopped reading")
        else:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]


def _zstd_failed(spool: str, how: str) -> None:
    """Most often zstd stops because the disk filled up under its writes: say so."""
    info = os.statvfs(spool)
    if info.f_bavail * info.f_frsize < FULL_DISK_BYTES:
        raise Dropped("disk full")
    raise Dropped(f"zstd failed ({how})")


def _check_free(path: str, floor: int, coming: int) -> None:
    if not floor:
        return
    info = os.statvfs(path)
    free = info.f_bavail * info.f_frsize
    if free - coming < floor:
        raise Dropped(f"free space below min_free ({free} bytes free, floor {floor})")


def _within_rate(state: str, sidecar: dict[str, Any], config: CollectConfig) -> bool:
    """At most rate_limit kept cores per executable per rate_window; shared by concurrent runs."""
    key = sidecar.get("executable") or "unknown"
    now = time.time()
    fd = os.open(os.path.join(state, RATE_FILE), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as stream:
        fcntl.flock(stream, fcntl.LOCK_EX)  # handlers for simultaneous crashes run in parallel
        try:
            table = json.loads(stream.read() or "{}")
            if not isinstance(table, dict):
                table = {}
        except ValueError:
            table = {}
        recent = {
            name: [t for t in times if isinstance(t, (int, float)) and now - t < config.rate_window]
            for name, times in table.items()
            if isinstance(times, list)
        }
        times = recent.setdefault(key, [])
        allowed = len(times) < config.rate_limit
        if allowed:
            times.append(now)
        stream.seek(0)
        stream.truncate()
        stream.write(json.dumps({name: ts for name, ts in recent.items() if ts}))
    return allowed


def _give_to_group(fd: int, group: str | None) -> None:
    """Let a watcher that is not root read the file: owner root, group GROUP, mode 0640."""
    if not group:
        return
    if group.isdigit():
        gid = int(group)
    else:
        import grp

        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            return  # logged nowhere better than in the sidecar: the file stays root's
    os.fchown(fd, -1, gid)


def _write_json(path: str, data: dict[str, Any], group: str | None = None) -> None:
    temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    payload = json.dumps(data, indent=1, sort_keys=True).encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, MODE)
    try:
        try:
            _give_to_group(fd, group)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except BaseException:
        _remove(temporary)
        raise


def _sweep(spool: str) -> None:
    """Remove the temporaries of handlers killed long ago (SIGKILL skips every cleanup)."""
    now = time.time()
    try:
        entries = list(os.scandir(spool))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(".core.") and entry.name.endswith(".tmp")):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY_SECONDS:
                os.unlink(entry.path)
        except OSError:
            pass


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _alarm(*_: object) -> None:
    raise _TimeLimit()


def _standard_descriptors() -> None:
    """The kernel gives the handler stdin only: keep fds 1 and 2 from being reused by a file."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def log(state: str, config: CollectConfig, crash: Crash, sidecar: dict[str, Any]) -> None:
    """One line per crash in SPOOL/.coretriage/collect.log (rotated), or syslog if not writable."""
    from ..render.style import escape

    outcome = sidecar.get("core") or "?"
    if not str(outcome).startswith("dropped"):
        stored = sidecar.get("stored_bytes") or 0
        outcome = f"stored {outcome} ({sidecar.get('core_bytes')} bytes, {stored} on disk)"
    line = escape(
        f"pid {crash.pid} tid {crash.tid} {sidecar.get('signal_name') or crash.signal} "
        f"{crash.executable or '?'}: {outcome} in {sidecar.get('collect_seconds', '?')} s"
        + (f" ({sidecar['collect_warning']})" if sidecar.get("collect_warning") else "")
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = os.path.join(state, LOG_NAME)
    try:
        try:
            if os.lstat(path).st_size > config.log_max_bytes:
                os.replace(path, path + ".1")
        except FileNotFoundError:
            pass
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, f"{stamp} {line}\n".encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
    except OSError:
        import syslog

        syslog.openlog("triage-collect", 0, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_WARNING, line)


__all__ = ["Crash", "Dropped", "core_name", "log", "parse", "run", "text"]
