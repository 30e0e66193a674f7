"""Where each page lives in the report directory: built from numeric ids only, never names."""

from __future__ import annotations

INDEX = "index.html"
GROUPS_DIR = "groups"
CRASHES_DIR = "crashes"


def _id(value: object) -> int:
    # bool is an int subclass but never a valid id; anything else (str from a core) is refused.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"report ids must be non-negative integers, not {value!r}")
    return value


def group_path(group_id: int, page: int = 1) -> str:
    """``groups/<id>.html``; later pages of a large group are ``groups/<id>-p<n>.html``."""
    number = _id(page)
    if number < 1:
        raise ValueError(f"page numbers start at 1, not {page}")
    suffix = "" if number == 1 else f"-p{number}"
    return f"{GROUPS_DIR}/{_id(group_id)}{suffix}.html"


def crash_path(crash_id: int) -> str:
    return f"{CRASHES_DIR}/{_id(crash_id)}.html"


def crash_document_path(crash_id: int) -> str:
    """``crashes/<id>.json``: the crash's analysis document, next to its page."""
    return f"{CRASHES_DIR}/{_id(crash_id)}.json"


def is_page_name(name: str) -> bool:
    """A name ``group_path``/``crash_path``/``crash_document_path`` could have made
    (``12.html``, ``3-p2.html``, ``12.json``)."""
    stem, dot, extension = name.partition(".")
    if not dot or extension not in ("html", "json"):
        return False
    if extension == "json" and not (stem.isascii() and stem.isdigit()):
        return False
    number, separator, page = stem.partition("-p")
    if separator and not (page.isascii() and page.isdigit()):
        return False
    return number.isascii() and number.isdigit()
