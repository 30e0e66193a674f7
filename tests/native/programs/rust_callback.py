"""Crash in a Rust cdylib (ctypes), below a Python ctypes callback it called.

argv: LIBRARY MODE (0: NULL write, 1: abort)
"""

import ctypes
import sys

LIBRARY = ctypes.CDLL(sys.argv[1])
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)
LIBRARY.rustcrash_run.argtypes = [CALLBACK, ctypes.c_int]
LIBRARY.rustcrash_detonate.argtypes = [ctypes.c_int]


def python_callback(mode):
    LIBRARY.rustcrash_detonate(mode)
    return 0


def main():
    LIBRARY.rustcrash_run(CALLBACK(python_callback), int(sys.argv[2]))


main()
