"""Page contexts built from plain records: frame origins, trends, pages, ids, paths."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from triage.document import from_json
from triage.report import paths
from triage.report.context import GroupFacts, build_crash_page, build_group_pages
from triage.report.frames import frame_view
from triage.report.records import crash_record, group_record
from triage.report.trend import sparkline
from triage.store.queries import Facet


@pytest.mark.parametrize(
    ("frame", "origin"),
    [
        ({"kind": "python", "file": "/srv/app/orders/views.py"}, "own"),
        ({"kind": "python", "file": "<string>"}, "own"),
        ({"kind": "python", "file": "/venv/lib/python3.12/site-packages/flask/app.py"}, "library"),
        ({"kind": "python", "file": "/usr/lib/python3/dist-packages/yaml/nodes.py"}, "library"),
        ({"kind": "python", "file": "/usr/lib/python3.12/json/decoder.py"}, "library"),
        ({"kind": "python", "file": "/opt/py/lib/python3.13t/threading.py"}, "library"),
        ({"kind": "python", "file": "<frozen importlib._bootstrap>"}, "interpreter"),
        (
            {
                "kind": "native",
                "function": "_PyEval_EvalFrameDefault",
                "library": "libpython3.12.so.1.0",
            },
            "interpreter",
        ),  # noqa: E501
        ({"kind": "native", "function": "main", "library": "/usr/bin/python3.12"}, "interpreter"),
        ({"kind": "native", "function": "abort", "library": "libc.so.6"}, "library"),
        (
            {
                "kind": "native",
                "function": "npy_foo",
                "library": "_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
            },
            "library",
        ),  # noqa: E501
        ({"kind": "native", "function": "_PyObject_Call", "library": None}, "interpreter"),
        ({"kind": "native", "function": "memcpy", "library": None}, "library"),
    ],
)
def test_frame_origins(frame: dict[str, Any], origin: str) -> None:
    analysis = from_json({"threads": [{"frames": [frame]}]})
    assert frame_view(analysis.threads[0].frames[0]).tier == origin


def test_sparkline_counts_days_of_the_window() -> None:
    end = date(2024, 5, 20)
    line = sparkline({date(2024, 5, 20): 4, date(2024, 4, 21): 1, date(2024, 4, 20): 9}, end)
    assert len(line.counts) == 30 and line.start == date(2024, 4, 21)
    assert line.counts[0] == 1 and line.counts[-1] == 4 and line.total == 5
    assert line.bars.count("M") == 2 and "v-20" in line.bars  # the peak fills the height
    assert "5 crashes" in line.label
    assert sparkline({}, end).bars == "" and "no crashes" in sparkline({}, end).label


def test_report_paths_accept_only_numeric_ids() -> None:
    assert paths.crash_path(12) == "crashes/12.html"
    assert paths.group_path(3) == "groups/3.html" and paths.group_path(3, 2) == "groups/3-p2.html"
    for bad in ("../../etc/passwd", "1", -1, True, 1.0, None):
        with pytest.raises(ValueError):
            paths.crash_path(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        paths.group_path(1, 0)
    assert paths.is_page_name("12.html") and paths.is_page_name("12-p3.html")
    for name in ("index.html", "12-p.html", "x.html", "12.htm", "１２.html", ".12.html.tmp"):
        assert not paths.is_page_name(name), name


def test_records_tolerate_text_json_and_odd_values() -> None:
    crash = crash_record(
        {
            "id": 5,
            "status": "weird",
            "signal": 11,
            "received_at": "2024-05-20T10:00:00Z",
            "crashed_at": datetime(2024, 5, 19, 8, 0),  # naive: UTC
            "context": '{"tags": ["a", "b"], "n": 3, "skip": null}',
            "release": "r1",
            "analysis": "not json",
        }
    )
    assert crash.status == "failed" and crash.signal == "SIGSEGV"
    assert crash.when == datetime(2024, 5, 19, 8, 0, tzinfo=timezone.utc)
    assert crash.context == (("tags", "a, b"), ("n", "3"), ("release", "r1"))
    assert crash.analysis is None
    with pytest.raises(ValueError):
        crash_record({"id": "7"})


def _crashes(count: int, group_id: int = 1) -> list[Any]:
    return [
        crash_record(
            {
                "id": i,
                "group_id": group_id,
                "host": f"h{i % 3}",
                "python_version": "3.12.1",
                "received_at": datetime(2024, 5, 1 + i % 20, tzinfo=timezone.utc),
            }
        )
        for i in range(1, count + 1)
    ]


def test_group_pages_paginate_newest_first() -> None:
    group = group_record({"id": 1, "signature": "SIGSEGV | a | b", "count": 250})
    hosts = Facet("host", (("h1", 84), ("h2", 83), ("h0", 83)), 0)
    facts = GroupFacts(facets=(Facet("python_version", (("3.12.1", 250),), 0), hosts))
    pages = build_group_pages(group, _crashes(250), None, facts, date(2024, 5, 20), per_page=100)
    assert [page.path for page in pages] == [
        "groups/1.html",
        "groups/1-p2.html",
        "groups/1-p3.html",
    ]
    assert [len(page.occurrences) for page in pages] == [100, 100, 50]
    assert pages[0].occurrences[0].id == 250 and pages[2].occurrences[-1].id == 1
    assert pages[0].pagination.previous is None and pages[0].pagination.next == "groups/1-p2.html"
    assert pages[1].pagination.previous == "groups/1.html"
    assert pages[0].signature_parts == ("SIGSEGV", "a", "b")
    counted = dict(pages[0].breakdowns[1].items)
    assert pages[0].breakdowns[1].title == "Hosts" and sum(counted.values()) == 250


def test_breakdowns_show_unknown_values() -> None:
    group = group_record({"id": 1, "signature": "SIGSEGV | a", "count": 12})
    facts = GroupFacts(facets=(Facet("release", (("2024.2", 2),), 10),))
    page = build_group_pages(group, _crashes(12), None, facts, date(2024, 5, 20))[0]
    assert page.breakdowns[0].items == (("2024.2", 2), ("unknown", 10))


def test_crash_page_without_locals_has_no_values() -> None:
    analysis = {
        "threads": [
            {"tid": 1, "crashed": True, "gil": "held", "gc": True, "frames": [
                {"kind": "python", "function": "f", "file": "/app/a.py", "line": 3,
                 "arguments": ["x"], "locals": {"x": "1", "y": "'secret'"}},
            ]},
            {"tid": "bogus", "frames": "not a list"},
        ]
    }  # fmt: skip
    crash = crash_record({"id": 1, "analysis": analysis})
    shown = build_crash_page(crash, None, with_locals=True)
    frame = shown.threads[0].frames[0]
    assert [(v.name, v.value) for v in frame.arguments or ()] == [("x", "1")]
    assert [(v.name, v.value) for v in frame.locals or ()] == [("y", "'secret'")]
    assert shown.threads[0].badges == ("Has the GIL", "Garbage collecting")
    assert shown.threads[1].tid == 0 and shown.threads[1].frames == ()
    hidden = build_crash_page(crash, None, with_locals=False)
    assert hidden.threads[0].frames[0].arguments is None
    assert hidden.threads[0].frames[0].locals is None
