# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Shared machinery of the scenario programs (runs unchanged on Python 2.7 and 3.6+).

A scenario is started as ``python -E -S -B SCRIPT MODE TRUTH_PATH READY_FD [ARGS...]``:

* MODE is ``abort`` (os.abort, SIGABRT), ``segv`` (a real NULL write, SIGSEGV) or ``wait``
  (park the thread and let the test take a core with gcore);
* TRUTH_PATH receives the ground truth: every thread's Python stack, as the interpreter itself
  sees it, recorded just before the crash;
* READY_FD is the write end of a pipe; ``ready`` is written to it once the truth is on disk.

The crash point of a scenario is written on ONE source line::

    crashkit.record() and crashkit.crash()

``record()`` stores the stacks (the caller's frame is at that line, so the innermost recorded
line is the line that crashes) and returns True; ``crash`` is a C callable (os.abort, a
ctypes memset of NULL, or time.sleep), so no Python frame is pushed after the record.

A thread that must sit still while another one crashes is parked on ONE line too::

    crashkit.arrive() and crashkit.block()

``arrive`` writes one byte to an arrival pipe and ``block`` sleeps; both are C callables, so
once the byte is written the thread stays on that very line. The crashing thread calls
``await_arrivals(n)`` before recording, so every stack it records is stable.
"""

from __future__ import print_function

import ctypes
import functools
import json
import os
import platform
import sys
import threading
import time
import traceback

BLOCK_SECONDS = 600  # a parked process never outlives a lost test run by much
_SYS_GETTID = {"x86_64": 186, "aarch64": 178, "i686": 224, "i386": 224, "ppc64le": 207}

mode = None
crash = None
block = functools.partial(time.sleep, BLOCK_SECONDS)
arrive = None
_truth_path = None
_ready_fd = None
_arrivals_r = None
_tids = {}


def setup():
    """Parse the command line, prepare the crash callable; return the scenario's own args."""
    global mode, crash, arrive, _truth_path, _ready_fd, _arrivals_r
    mode, _truth_path, ready_fd = sys.argv[1:4]
    _ready_fd = int(ready_fd)
    if mode == "abort":
        crash = os.abort
    elif mode == "segv":
        crash = functools.partial(ctypes.memset, 0, 0, 1)
    elif mode == "wait":
        crash = block
    else:
        raise SystemExit("unknown mode %r" % (mode,))
    _arrivals_r, arrivals_w = os.pipe()
    arrive = functools.partial(os.write, arrivals_w, b"x")
    register_thread()
    return sys.argv[4:]


def current_tid():
    """The OS thread id of the calling thread, or None when it cannot be known."""
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    if threading.current_thread() is threading_main_thread():
        return os.getpid()
    number = _SYS_GETTID.get(platform.machine())
    if number is None:
        return None
    return ctypes.CDLL(None).syscall(number)


def threading_main_thread():
    if hasattr(threading, "main_thread"):
        return threading.main_thread()
    for thread in threading.enumerate():
        if isinstance(thread, threading._MainThread):
            return thread
    return None


def register_thread():
    _tids[_ident()] = current_tid()


def _ident():
    if hasattr(threading, "get_ident"):
        return threading.get_ident()
    import thread  # Python 2

    return thread.get_ident()


def start_thread(target, name, args=()):
    """Start a daemon thread that records its OS tid first; a failure ends the process."""
    thread = threading.Thread(target=_thread_main, args=(target, args), name=name)
    thread.daemon = True
    thread.start()
    return thread


def _thread_main(target, args):
    register_thread()
    try:
        target(*args)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)


def await_arrivals(count):
    """Wait until COUNT threads have called arrive()."""
    received = 0
    while received < count:
        chunk = os.read(_arrivals_r, count - received)
        if not chunk:
            raise RuntimeError("arrival pipe closed")
        received += len(chunk)


def run_in_big_thread(target, stack_size, args=()):
    """Run TARGET in a thread with a big C stack while the main thread parks."""
    threading.stack_size(stack_size)
    start_thread(target, "big-stack", args)
    arrive() and block()


def record():
    """Write every thread's stack to the truth file; the caller's line is the crash line."""
    caller = sys._getframe(1)
    me = _ident()
    frames = sys._current_frames()
    frames[me] = caller
    names = dict((t.ident, t.name) for t in threading.enumerate())
    threads = []
    for ident, frame in sorted(frames.items()):
        threads.append(
            {
                "ident": ident,
                "tid": _tids.get(ident),
                "name": names.get(ident),
                "crashed": ident == me,
                "frames": _walk(frame),
            }
        )
    truth = {
        "mode": mode,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "version": list(sys.version_info[:3]),
        "executable": sys.executable,
        "argv": sys.argv,
        "threads": threads,
    }
    _write_json(truth)
    os.write(_ready_fd, b"ready\n")
    return True


def _walk(frame):
    """The stack ending at FRAME, outermost first."""
    stack = []
    while frame is not None:
        code = frame.f_code
        entry = {"file": code.co_filename, "function": code.co_name, "line": frame.f_lineno}
        qualname = getattr(code, "co_qualname", None)
        if qualname is not None:
            entry["qualname"] = qualname
        stack.append(entry)
        frame = frame.f_back
    stack.reverse()
    return stack


def _write_json(data):
    temporary = _truth_path + ".part"
    with open(temporary, "w") as stream:
        json.dump(data, stream, ensure_ascii=True, indent=1, sort_keys=True)
    os.rename(temporary, _truth_path)
