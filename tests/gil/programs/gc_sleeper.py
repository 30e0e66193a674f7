"""A thread collects garbage and, inside the collection, runs a finalizer that sleeps (so it
does not hold the GIL); the main thread sleeps too.

Usage: gc_sleeper.py READY_FD. "ready" is written by the finalizer.
"""

import gc
import os
import sys
import threading
import time

READY_FD = int(sys.argv[1])


class Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        os.write(READY_FD, b"ready\n")
        time.sleep(1000)


def collector():
    Cycle()
    gc.collect()


gc.disable()
thread = threading.Thread(target=collector)
thread.daemon = True
thread.start()
time.sleep(1000)
