"""A live target that loses threads (run by the interpreter that runs the tests).

Usage: python vanishing.py MODE. Prints "ready" once in the state, then stays there.
Modes:
  leader-exit  two threads sleep in sleeping_worker(); the main thread then calls
               pthread_exit(), so the leader is a zombie while the process runs on.
  busy         many threads sleeping, one spinning, others coming and going (for kills at
               random moments of an analysis: the more threads, the longer it unwinds).
"""

import ctypes
import sys
import threading
import time


def sleeping_worker(n):
    time.sleep(1000 + n)


def spinning_worker():
    while True:
        sorted(range(500))


def short_lived():
    time.sleep(0.001)


def churn():
    while True:
        t = threading.Thread(target=short_lived)
        t.start()
        t.join()


def start(target, *args):
    t = threading.Thread(target=target, args=args)
    t.daemon = True
    t.start()


def main():
    mode = sys.argv[1]
    start(sleeping_worker, 1)
    start(sleeping_worker, 2)
    if mode == "busy":
        for n in range(3, 16):
            start(sleeping_worker, n)
        start(spinning_worker)
        start(churn)
    print("ready")
    sys.stdout.flush()
    if mode == "leader-exit":
        # CDLL (not PyDLL) releases the GIL for the call, and the thread never takes it back.
        ctypes.CDLL(None).pthread_exit(None)
    time.sleep(1000)


main()
