"""A live Python process in a known state, for ``triage remote`` tests (Python 2.7 and 3.6+).

Usage: python live_target.py MODE TRUTH_FILE. It writes the stacks it knows (every thread's
frames, from sys._current_frames()) to TRUTH_FILE as JSON, prints "ready" on stdout, and then
stays in that state until killed. Modes: threads, gil, gc, locals, signal.
"""

from __future__ import print_function

import gc
import json
import os
import signal
import sys
import threading
import time
import weakref

TRUTH = sys.argv[2] if len(sys.argv) > 2 else os.devnull
started = threading.Event()


def stacks():
    out = []
    for frame in sys._current_frames().values():
        frames = []
        while frame is not None:
            code = frame.f_code
            # The frames of this recording itself are not part of the state under test.
            if code.co_name not in ("ready", "stacks") or code.co_filename != __file__:
                frames.append([code.co_filename, code.co_name, frame.f_lineno])
            frame = frame.f_back
        out.append(list(reversed(frames)))
    return out


def ready():
    with open(TRUTH, "w") as f:
        json.dump(stacks(), f)
    print("ready")
    sys.stdout.flush()


def background(target):
    t = threading.Thread(target=target)
    t.daemon = True
    t.start()
    return t


def sleeper_leaf(n):
    started.set()
    time.sleep(1000 + n)


def sleeper_mid(n):
    sleeper_leaf(n)


def sleeper(n):
    sleeper_mid(n)


def spin():
    started.set()
    while True:
        sorted(range(2000))


class Node(object):
    pass


def on_collected(ref):
    ready() or time.sleep(1000)


def make_garbage():
    # The collector calls back weak references to the garbage it found, in the collecting
    # thread and in the middle of the collection (2.7 included, which never calls __del__ of
    # objects in a cycle).
    node = Node()
    node.cycle = node
    return weakref.ref(node, on_collected)


def with_locals(number, text, *rest, **options):
    big = -(2**100)
    ratio = 0.1
    one = (1,)
    nested = [1, [2, None]]
    mapping = {"k": 1.5, 2: (True, False)}
    raw = b"\x00ab\xff"
    unicode_text = "caf\xe9 \u4e2d\u6587"
    nothing = None
    ready() or time.sleep(1000)
    return big, ratio, one, nested, mapping, raw, unicode_text, nothing


def on_usr1(signum, frame):
    print("got-signal")
    sys.stdout.flush()


def counter():
    global ticks
    started.set()
    while True:
        ticks += 1
        time.sleep(0.001)


ticks = 0


def main():
    mode = sys.argv[1]
    if mode == "threads":
        for n in range(3):
            background(lambda n=n: sleeper(n))
        while threading.active_count() < 4:
            time.sleep(0.01)
        time.sleep(0.2)
        ready() or time.sleep(1000)
    elif mode == "gil":
        # Three CPU-bound threads: at any moment one runs and the others wait in take_gil.
        # Ready is said first: with three spinners the main thread may hardly ever get the
        # GIL back (Python 2's GIL especially), so the test polls until they all run.
        ready()
        for _ in range(3):
            background(spin)
        time.sleep(1000)
    elif mode == "gc":
        background(lambda: sleeper(0))
        started.wait()
        gc.disable()
        keep = make_garbage()  # noqa: F841 - the weak reference must outlive the collection
        gc.collect()
    elif mode == "locals":
        with_locals(1, "two", 3, four=4)
    elif mode == "signal":
        signal.signal(signal.SIGUSR1, on_usr1)
        background(counter)
        started.wait()
        ready()
        for _ in iter(sys.stdin.readline, ""):
            print("ticks", ticks)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
