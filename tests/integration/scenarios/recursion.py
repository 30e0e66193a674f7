# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Scenario 3: deep recursion; the last argument is the number of recursive frames.

Up to SHALLOW frames run in the main thread; deeper stacks run in a thread with a big C stack
(and a raised recursion limit) so the interpreter itself does not overflow.
"""

import sys

import crashkit

SHALLOW = 500
BIG_STACK = 64 * 1024 * 1024


def bottom():
    crashkit.record() and crashkit.crash()


def recurse(remaining):
    if remaining == 0:
        return bottom()
    return recurse(remaining - 1)


def deep(depth):
    crashkit.await_arrivals(1)
    recurse(depth)


def main():
    (depth,) = crashkit.setup()
    depth = int(depth)
    if depth <= SHALLOW:
        recurse(depth)
        return
    sys.setrecursionlimit(depth + 1000)
    crashkit.run_in_big_thread(deep, BIG_STACK, (depth,))


if __name__ == "__main__":
    main()
