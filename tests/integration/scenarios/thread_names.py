# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Threads with every kind of threading name, for the Python names read from memory.

* the main thread ("MainThread"), parked;
* a thread with a name the program chose (non-ASCII on Python 3), parked;
* a thread with threading's default name ("Thread-N", 3.10+: "Thread-N (target)"): it crashes,
  inside a ctypes call in the segv mode;
* a named thread parked inside a ctypes call (libc's sleep);
* a thread started by _thread.start_new_thread that threading never saw: no name;
* one such thread that called threading.current_thread(): a _DummyThread ("Dummy-N").

The truth (crashkit.record) holds threading's own names by thread ident and OS tid.
"""

import ctypes
import platform

import crashkit

try:
    import _thread as rawthread
except ImportError:  # Python 2
    import thread as rawthread
import threading

PARKED = 5  # main, user-named, ctypes, raw, raw with a dummy
USER_NAME = "worker-1" if str is bytes else "wörker-ü 1"
_SYS_GETTID = {"x86_64": 186, "aarch64": 178, "i686": 224, "i386": 224, "ppc64le": 207}
_LIBC = ctypes.CDLL(None)


def park():
    crashkit.arrive() and crashkit.block()


def park_in_ctypes():
    crashkit.arrive() and _LIBC.sleep(crashkit.BLOCK_SECONDS)


def register_raw():
    """Record this thread's OS tid without asking threading (which would make a dummy)."""
    number = _SYS_GETTID.get(platform.machine())
    tid = _LIBC.syscall(number) if number is not None else None
    crashkit._tids[crashkit._ident()] = tid


def raw_park():
    register_raw()
    park()


def raw_dummy_park():
    register_raw()
    threading.current_thread()  # registers a _DummyThread in threading._active
    park()


def crasher():
    crashkit.register_thread()
    crashkit.await_arrivals(PARKED)
    crashkit.record() and crashkit.crash()


def run(target):
    crashkit.register_thread()
    target()


def write_addresses(user_thread):
    """Where the objects the names come from are, for the tests that corrupt them in a core."""
    import json
    import sys

    addresses = {
        "modules": id(sys.modules),
        "active": id(threading._active),
        "user_name": id(user_thread.name),
        "int_type": id(int),
    }
    with open(crashkit._truth_path + ".addresses", "w") as stream:
        json.dump(addresses, stream)


def main():
    crashkit.setup()
    started = []
    for target, name in ((park, USER_NAME), (park_in_ctypes, "in-ctypes")):
        thread = threading.Thread(target=run, args=(target,), name=name)
        thread.daemon = True
        thread.start()
        started.append(thread)
    write_addresses(started[0])  # before the main thread arrives, so before "ready"
    rawthread.start_new_thread(raw_park, ())
    rawthread.start_new_thread(raw_dummy_park, ())
    thread = threading.Thread(target=crasher)  # the default name
    thread.daemon = True
    thread.start()
    park()


if __name__ == "__main__":
    main()
