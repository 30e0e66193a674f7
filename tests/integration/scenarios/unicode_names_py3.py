# -*- coding: utf-8 -*-
# ruff: noqa: UP009
"""Python 3 half of scenario 4: names stored as Latin-1, UCS-2 and UCS-4 strings."""

import crashkit


def 𐌰𐌱𐌲():  # UCS-4 (Gothic letters: valid identifier characters, stable under NFKC)
    crashkit.record() and crashkit.crash()


def 中文():  # UCS-2
    𐌰𐌱𐌲()


class Ünïcødé:
    def método(self):  # Latin-1
        中文()


def café():  # Latin-1
    Ünïcødé().método()


def entry():
    café()
