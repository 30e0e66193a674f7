# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Scenario 2: three worker threads in their own nested calls plus the main thread.

Two workers and the main thread park; the third worker crashes once they all arrived.
"""

import crashkit

PARKED = 3  # worker_a, worker_b and the main thread


def park_a():
    crashkit.arrive() and crashkit.block()


def step_a():
    park_a()


def worker_a():
    step_a()


def park_b(level):
    if level:
        return park_b(level - 1)
    crashkit.arrive() and crashkit.block()


def worker_b():
    park_b(2)


def crash_c():
    crashkit.await_arrivals(PARKED)
    crashkit.record() and crashkit.crash()


def dispatch_c(handler):
    handler()


def worker_c():
    dispatch_c(crash_c)


def main():
    crashkit.setup()
    crashkit.start_thread(worker_a, "worker-a")
    crashkit.start_thread(worker_b, "worker-b")
    crashkit.start_thread(worker_c, "worker-c")
    crashkit.arrive() and crashkit.block()


if __name__ == "__main__":
    main()
