"""Runs many ``triage`` command lines, each in its own forked child, from one warm interpreter.

Started as a script by the tests (``python forkrun.py TIMEOUT WORKERS``): reads one JSON list
of argument lists on stdin, writes one JSON list of results on stdout. The extension and the
CLI are imported once, then every command line runs in a fresh ``fork()``ed child, so a crash
(a signal) or a hang (killed at TIMEOUT seconds) of one run is seen as such and costs nothing
else, and thousands of runs do not pay for thousands of interpreter start-ups.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback

# A mutated core can ask for any amount of memory; a run must not take the machine with it.
MEMORY_LIMIT = 4 << 30
TRACEBACK_EXIT = 99  # an exception escaped main(): a bug, whatever it was


def _child(argv: list[str], out_fd: int, err_fd: int) -> None:
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    code = TRACEBACK_EXIT
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        from triage.cli import main

        code = main(argv)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else TRACEBACK_EXIT)


def _scratch_fd() -> int:
    fd, path = tempfile.mkstemp(prefix="forkrun-")
    os.unlink(path)
    return fd


def _read(fd: int, limit: int = 1 << 16) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, limit)
    os.close(fd)
    return data.decode("utf-8", errors="surrogateescape")


class _Run:
    def __init__(self, index: int, argv: list[str]) -> None:
        self.index = index
        self.argv = argv
        self.out_fd = _scratch_fd()
        self.err_fd = _scratch_fd()
        self.started = time.monotonic()
        self.pid = os.fork()
        if self.pid == 0:
            _child(argv, self.out_fd, self.err_fd)

    def result(self, status: int, timed_out: bool) -> dict[str, object]:
        return {
            "index": self.index,
            "argv": self.argv,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) and not timed_out else None,
            "timed_out": timed_out,
            "seconds": round(time.monotonic() - self.started, 3),
            "stdout": _read(self.out_fd),
            "stderr": _read(self.err_fd),
        }


def run_all(commands: list[list[str]], timeout: float, workers: int) -> list[dict[str, object]]:
    pending = list(enumerate(commands))
    running: dict[int, _Run] = {}
    results: list[dict[str, object]] = []
    while pending or running:
        while pending and len(running) < workers:
            index, argv = pending.pop(0)
            run = _Run(index, argv)
            running[run.pid] = run
        time.sleep(0.005)
        for pid, run in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            timed_out = False
            if done == 0 and time.monotonic() - run.started > timeout:
                os.kill(pid, signal.SIGKILL)
                done, status = os.waitpid(pid, 0)
                timed_out = True
            if done:
                del running[pid]
                results.append(run.result(status, timed_out))
    return sorted(results, key=lambda r: int(r["index"]))  # type: ignore[call-overload]


def main() -> None:
    timeout, workers = float(sys.argv[1]), int(sys.argv[2])
    commands = json.load(sys.stdin)
    # Warm up in the parent, so every child starts with the extension loaded.
    import triage._native  # noqa: F401
    import triage.cli.core  # noqa: F401

    json.dump(run_all(commands, timeout, workers), sys.stdout)


if __name__ == "__main__":
    main()
