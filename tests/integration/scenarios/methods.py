# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Scenario 7: __call__, instance, property, class and static methods, and a lambda."""

import crashkit


class Pipeline(object):
    def __init__(self, value):
        self.value = value

    def __call__(self):
        return self.run()

    def run(self):
        return self.result

    @property
    def result(self):
        return Pipeline.configure(self.value)

    @classmethod
    def configure(cls, value):
        return cls.compute(value)

    @staticmethod
    def compute(value):
        finish = lambda v: crashkit.record() and crashkit.crash()  # noqa: E731
        return finish(value)


def main():
    crashkit.setup()
    Pipeline(21)()


if __name__ == "__main__":
    main()
