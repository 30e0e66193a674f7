"""Threads that run C code with the GIL released (or fight for it), then wait to be inspected.

Usage: gil_scenarios.py SCENARIO READY_FD [EXTENSION_DIR]. Writes "ready" on READY_FD once the
worker threads are in the state the scenario names, then sleeps in the main thread.
Works on 2.7 and 3.x.
"""

import ctypes
import hashlib
import itertools
import os
import select
import socket
import sys
import threading
import time

SCENARIO = sys.argv[1]
READY_FD = int(sys.argv[2])
started = threading.Event()
said = threading.Lock()
cpu_started = itertools.count(1)  # next() is atomic under the GIL


def say_ready():
    """Write "ready" once, whichever thread gets here first."""
    if said.acquire(False):
        os.write(READY_FD, b"ready\n")
        os.close(READY_FD)


def ctypes_sleep():
    libc = ctypes.CDLL(None)
    started.set()
    libc.sleep(1000)


def hashing():
    size = 200 * 1024 * 1024
    if sys.version_info[0] == 2:  # noqa: UP036 - this program runs on 2.7 too
        # 2.7 switches threads every 100 bytecodes, i.e. every ~30 hashes when the hash holds
        # the GIL (no OpenSSL): the main thread would wait minutes to say "ready". Even at every
        # bytecode, a hash of 200 MB holds the GIL ~1 s and the hashing thread takes it back at
        # once (2.7's GIL is not fair): under load the main thread starved for over a minute.
        # Short hashes give it a chance many times a second.
        # Under load even that was not enough once (no "ready" in 60 s): so on 2.7 the hashing
        # thread says "ready" itself, between two hashes, with the GIL it holds.
        sys.setcheckinterval(1)
        size = 4 * 1024 * 1024
    data = b"x" * size
    started.set()
    while True:
        hashlib.sha256(data).digest()
        if sys.version_info[0] == 2:  # noqa: UP036
            say_ready()


def selecting():
    left, right = socket.socketpair()
    started.set()
    select.select([left], [], [], 1000)


def lock_wait():
    lock = threading.Lock()
    lock.acquire()
    started.set()
    lock.acquire()


def extension_spin():
    sys.path.insert(0, sys.argv[3])
    import nogil_spin

    started.set()
    nogil_spin.spin()


def numpy_dot():
    import numpy

    a = numpy.ones((1500, 1500))
    started.set()
    while True:
        numpy.dot(a, a)


def cpu_bound():
    started.set()
    if sys.version_info[0] == 2 and next(cpu_started) == 2:  # noqa: UP036
        say_ready()  # the second of two: as for hashing, 2.7's main thread could starve
    x = 0
    while True:
        x += 1


WORKERS = {
    "ctypes": [ctypes_sleep],
    "hashlib": [hashing],
    "select": [selecting],
    "lock": [lock_wait],
    "extension": [extension_spin],
    "numpy": [numpy_dot],
    "cpu": [cpu_bound, cpu_bound],
}

for target in WORKERS[SCENARIO]:
    worker = threading.Thread(target=target)
    worker.daemon = True
    worker.start()
    started.wait()
    started.clear()
time.sleep(0.5)  # the workers are now inside their calls
say_ready()
while True:
    time.sleep(1000)
