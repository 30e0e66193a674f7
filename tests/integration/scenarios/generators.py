# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Scenario 5: generator frames; on Python 3 also coroutines, an async generator and
``yield from`` (see coroutines_py3.py), driven by asyncio."""

import sys

import crashkit


def leaf_gen():
    yield 1
    yield 2
    crashkit.record() and crashkit.crash()
    yield 3


def middle_gen():
    for value in leaf_gen():
        yield value * 10


def consume():
    return list(middle_gen())


def main():
    crashkit.setup()
    if sys.version_info >= (3, 6):
        import coroutines_py3

        coroutines_py3.run(middle_gen)
    else:
        consume()


if __name__ == "__main__":
    main()
