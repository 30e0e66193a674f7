# -*- coding: utf-8 -*-
"""Sample bug 2: a NULL pointer dereferenced through ctypes (SIGSEGV).

Runs unchanged on Python 2.7 and 3.6+; $TRIAGE_DEMO_GCORE: see callback_abort.py.
"""

import ctypes
import os
import sys

PARK = bool(os.environ.get("TRIAGE_DEMO_GCORE"))


def announce():
    if PARK:
        sys.stdout.write("ready\n")
        sys.stdout.flush()


def read_header(address):
    announce()
    while PARK:  # gcore mode: stay here, busy, until the core is taken
        pass
    header = ctypes.create_string_buffer(16)
    ctypes.memmove(header, address, 16)  # reads from NULL: SIGSEGV
    return header.raw


def parse(packet):
    return read_header(packet.get("address", 0))


def main():
    parse({"length": 16})


if __name__ == "__main__":
    main()
