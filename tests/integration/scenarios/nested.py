# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Scenario 1: plain nested calls, the innermost one crashes (or waits for gcore)."""

import crashkit


def innermost(depth):
    crashkit.record() and crashkit.crash()
    return depth


def middle(depth):
    return innermost(depth + 1)


def outer(depth):
    return middle(depth + 1)


def main():
    crashkit.setup()
    outer(0)


if __name__ == "__main__":
    main()
