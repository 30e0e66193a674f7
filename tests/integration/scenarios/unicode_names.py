# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP008, UP009, UP010, UP025, UP031, UP032, UP036
"""Scenario 4: non-ASCII function names (Python 3) and a non-ASCII path (every version).

The test copies this file under directories such as ``dír/`` (Latin-1) and ``目录/`` (UCS-2).
Python 2 only allows ASCII identifiers, so there only the path carries non-ASCII text; on
Python 3 the names live in ``unicode_names_py3.py``, which Python 2 never parses.
"""

import sys

import crashkit


def ascii_leaf():
    crashkit.record() and crashkit.crash()


def ascii_caller():
    ascii_leaf()


def main():
    crashkit.setup()
    if sys.version_info[0] >= 3:
        import unicode_names_py3

        unicode_names_py3.entry()
    else:
        ascii_caller()


if __name__ == "__main__":
    main()
