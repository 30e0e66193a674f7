# -*- coding: utf-8 -*-
"""Sample bug 3: a worker thread recursing into abort(); the depth differs on every run.

Runs unchanged on Python 2.7 and 3.6+; $TRIAGE_DEMO_GCORE: see callback_abort.py.
"""

import os
import sys
import threading

PARK = bool(os.environ.get("TRIAGE_DEMO_GCORE"))


def announce():
    if PARK:
        sys.stdout.write("ready\n")
        sys.stdout.flush()


def descend(depth):
    if depth == 0:
        announce()
        while PARK:  # gcore mode: stay here, busy, until the core is taken
            pass
        os.abort()
    return descend(depth - 1)


def work():
    descend(10 + os.getpid() % 20)


def main():
    worker = threading.Thread(target=work, name="worker")
    worker.start()
    worker.join()


if __name__ == "__main__":
    main()
