"""A thread that runs a sub-interpreter, which sleeps; the main thread sleeps too.

Usage: subinterpreters.py READY_FD. "ready" is written on READY_FD by the sub-interpreter
itself, once it is inside its sleep's caller.
"""

import sys
import threading
import time

try:
    import _interpreters as interpreters  # 3.13
except ImportError:
    import _xxsubinterpreters as interpreters  # 3.11, 3.12

READY_FD = int(sys.argv[1])
CODE = f"""
import os
import time


def sub_inner():
    os.write({READY_FD}, b"ready\\n")
    time.sleep(1000)


def sub_outer():
    sub_inner()


sub_outer()
"""


def run_sub():
    interp = interpreters.create()
    if hasattr(interpreters, "run_string"):
        interpreters.run_string(interp, CODE)
    else:
        interpreters.exec(interp, CODE)


def worker():
    run_sub()


thread = threading.Thread(target=worker, daemon=True)
thread.start()


def main_wait():
    time.sleep(1000)


main_wait()
