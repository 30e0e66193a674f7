# -*- coding: utf-8 -*-
"""Sample bug 1: a KeyError in a callback called from C (sorted's key) ends in abort().

Runs unchanged on Python 2.7 and 3.6+. With $TRIAGE_DEMO_GCORE set, it parks on the crash
line instead (busy, holding the GIL) so that a core can be taken with gcore.
"""

import os
import sys

HANDLERS = {"json": len, "xml": len}
PARK = bool(os.environ.get("TRIAGE_DEMO_GCORE"))


def announce():
    if PARK:
        sys.stdout.write("ready\n")
        sys.stdout.flush()


def priority(kind):
    try:
        return HANDLERS[kind]("payload")
    except KeyError:
        # Exceptions cannot cross the C library that calls us: the service aborts instead.
        announce()
        while PARK:  # gcore mode: stay here, busy, until the core is taken
            pass
        os.abort()


def dispatch(kinds):
    return sorted(kinds, key=priority)


def main():
    dispatch(["json", "xml", "yaml"])


if __name__ == "__main__":
    main()
