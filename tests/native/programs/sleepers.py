"""Two Python threads and the main thread asleep in nested calls (runs on 2.7 and 3.x).

argv: READY_FD. Writes "ready" once every thread reached its sleep; sleeps until killed.
An optional MODULE_DIR after READY_FD loads cxxcrash and starts its pure-C pthread first;
"ready TID" then names that thread.
"""

import os
import sys
import threading
import time

ARRIVED = []
LOCK = threading.Lock()


def doze():
    while True:
        time.sleep(1000)


def arrive():
    with LOCK:
        ARRIVED.append(1)


def sleeper_leaf():
    arrive()
    doze()


def sleeper_branch(depth):
    if depth:
        return sleeper_branch(depth - 1)
    sleeper_leaf()


def sleeper_root():
    sleeper_branch(2)


def wait_for(count):
    while True:
        with LOCK:
            if len(ARRIVED) >= count:
                return
        time.sleep(0.001)


def main():
    ready_fd = int(sys.argv[1])
    native_tid = None
    if len(sys.argv) > 2:
        sys.path.insert(0, sys.argv[2])
        import cxxcrash

        native_tid = cxxcrash.start_sleeper()
    for _ in range(2):
        thread = threading.Thread(target=sleeper_root)
        thread.daemon = True
        thread.start()
    wait_for(2)
    message = "ready" if native_tid is None else "ready " + str(native_tid)
    os.write(ready_fd, message.encode("ascii") + b"\n")
    os.close(ready_fd)
    doze()


main()
