# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Scenario 6: the crash happens in callbacks called from C (map() and a sorted() key)."""

import crashkit


def fragile_key(item):
    if item == 3:
        crashkit.record() and crashkit.crash()
    return -item


def sort_batch(batch):
    return sorted(batch, key=fragile_key)


def process(batches):
    return list(map(sort_batch, batches))


def main():
    crashkit.setup()
    process([[9, 8], [5, 1, 3, 4]])


if __name__ == "__main__":
    main()
