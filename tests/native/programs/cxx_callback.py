"""Crash inside the C++ extension, below a Python callback it called (runs on 2.7 and 3.x).

argv: MODULE_DIR MODE (0: NULL write, 1: abort)
"""

import sys

sys.path.insert(0, sys.argv[1])

import cxxcrash  # noqa: E402


def deeper_callback(mode):
    cxxcrash.boom(mode)


def the_callback(mode):
    deeper_callback(mode)


def enter_extension(mode):
    cxxcrash.run(the_callback, mode)


def main():
    enter_extension(int(sys.argv[2]))


main()
