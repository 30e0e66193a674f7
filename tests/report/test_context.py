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


def test_report_paths_of_crash_documents() -> None:
    assert paths.crash_document_path(12) == "crashes/12.json"
    assert paths.is_page_name("12.json")
    for name in ("12-p2.json", "x.json", "12.json.tmp"):
        assert not paths.is_page_name(name), name


def _facts(**fields: Any) -> GroupFacts:
    return GroupFacts(**fields)


def test_index_is_worst_first_with_status_releases_and_versions() -> None:
    from collections import Counter

    from triage.report.context import build_index

    today = date(2024, 5, 20)
    old = datetime(2024, 1, 1, tzinfo=timezone.utc)
    groups = [
        group_record({"id": 1, "signature": "a", "count": 500, "first_seen": old,
                      "last_seen": datetime(2024, 5, 1, tzinfo=timezone.utc)}),
        group_record({"id": 2, "signature": "b", "count": 10, "first_seen": old,
                      "last_seen": datetime(2024, 5, 20, tzinfo=timezone.utc)}),
        group_record({"id": 3, "signature": "c", "count": 20, "first_seen": old,
                      "last_seen": datetime(2024, 5, 19, tzinfo=timezone.utc)}),
    ]  # fmt: skip
    versions = Facet(
        "python_version",
        tuple((v, 1) for v in ("3.10.1", "3.6.15", "2.7.18", "3.13.0", "3.9.2")),
        0,
    )
    facts = {
        1: _facts(days=Counter({date(2024, 5, 1): 5}), status="resolved", kind="crash"),
        2: _facts(
            days=Counter({date(2024, 5, 19): 4, date(2024, 5, 20): 3}),
            status="regressed",
            kind="hang",
            first_release="2024.2",
            last_release="2024.10",
            facets=(
                versions,
                Facet(
                    "executable",
                    (("/opt/pyenv/versions/3.12.1/bin/python3.12", 6), ("/usr/bin/python3", 4)),
                    0,
                ),
                Facet("host", tuple((f"web-{n}", 1) for n in range(6)), 0),
            ),  # fmt: skip
        ),
        3: _facts(days=Counter({date(2024, 5, 18): 7}), last_release="2024.9"),
    }
    page = build_index(groups, facts, {"done": 530}, [], today)
    # Seven crashes this week each for 2 and 3: the bigger group first; 1 had none.
    assert [row.id for row in page.groups] == [3, 2, 1]
    row = page.groups[1]
    assert row.status == "regressed" and row.is_hang and page.regressed == 1
    assert row.recent == 7 and page.groups[2].recent == 0
    assert row.python.text == "2.7.18–3.13.0 (5)" and row.python.newest == "3.13.0"
    assert row.python.full.startswith("2.7.18, 3.6.15, 3.9.2, 3.10.1")
    assert [(e.name, e.path) for e in row.executables] == [
        ("python3.12", "/opt/pyenv/versions/3.12.1/bin/python3.12"),
        ("python3", "/usr/bin/python3"),
    ]
    assert row.host_count == 6 and len(row.hosts.values) == 2 and row.hosts.more == 4
    # Releases rank as versions: 2024.10 after 2024.9.
    assert row.release_rank > page.groups[0].release_rank > 0
    assert [r.status_rank for r in page.groups] == [1, 0, 2]
    # The trend spans the group's active window (capped), ending today.
    assert row.trend.end == today and len(row.trend.counts) == 90


def test_trend_window_follows_the_group() -> None:
    from triage.report.trend import active_window

    end = date(2024, 5, 20)
    assert active_window(date(2024, 5, 19), end) == 7  # never narrower than a week
    assert active_window(date(2024, 5, 1), end) == 20
    assert active_window(date(2023, 1, 1), end) == 90
    assert active_window(None, end) == 30
    line = sparkline({date(2024, 5, 20): 1}, end, 7)
    assert line.width == 84 and line.bar_width == 11  # wide bars for a young group
    assert sparkline({}, end, 90).bar_width == 1


def _analysis(tid: int, variables: dict[str, str], *, crashed: bool = True) -> dict[str, Any]:
    return {
        "threads": [
            {"tid": tid, "crashed": crashed, "frames": [
                {"kind": "python", "function": "main", "file": "/app/main.py", "line": 1,
                 "locals": {"argv": "['x']"}},
                {"kind": "python", "function": "handle", "file": "/app/h.py", "line": 9,
                 "arguments": ["user_id"], "locals": variables},
                {"kind": "native", "function": "abort", "library": "libc.so.6"},
            ]},
            {"tid": tid + 1, "frames": [
                {"kind": "python", "function": "idle", "file": "/app/i.py", "line": 2,
                 "locals": {"never": "shown"}},
            ]},
        ]
    }  # fmt: skip


def test_locals_across_the_group() -> None:
    from triage.report.spread import locals_spread

    analyses = [
        from_json(_analysis(n, {"user_id": str(n), "addr": "0", "mode": "'r'" if n % 4 else "'w'"}))
        for n in range(1, 13)
    ]
    spread = locals_spread(analyses, total=212)
    assert spread is not None and spread.sample == 12 and spread.total == 212
    assert [frame.function for frame in spread.frames] == ["handle", "main"]  # innermost first
    handle = {v.name: v for v in spread.frames[0].variables}
    assert handle["addr"].summary == "0 in 100% of 12" and handle["addr"].constant
    assert handle["user_id"].summary == "12 distinct of 12, none repeated"
    assert handle["user_id"].argument and not handle["addr"].argument
    mode = handle["mode"]
    assert mode.summary == "2 distinct of 12"
    assert [(s.value, s.count, s.percent) for s in mode.top] == [("'r'", 9, 75), ("'w'", 3, 25)]
    assert "never" not in {v.name for f in spread.frames for v in f.variables}
    assert locals_spread([from_json({"threads": [{"tid": 1, "frames": []}]})], 1) is None


def test_group_page_puts_the_crashing_frame_first_and_says_why() -> None:
    group = group_record({"id": 1, "signature": "SIGABRT | handle", "count": 1})
    crash = crash_record({"id": 7, "group_id": 1, "analysis": _analysis(5, {"addr": "0"})})
    page = build_group_pages(group, [crash], crash, GroupFacts(status="regressed"), date.today())[0]
    assert page.stack is not None and page.stack.innermost_first
    assert [f.function for f in page.stack.frames] == ["abort", "handle", "main"]
    assert page.representative_reason is not None
    assert "3 of 3 frames symbolized, with local variables" in page.representative_reason
    assert page.status == "regressed"


def test_crash_document_is_scrubbed_and_follows_no_locals() -> None:
    import json

    from triage.report.documents import crash_document

    analysis = _analysis(5, {"password": "'hunter2'", "addr": "0"})
    analysis["threads"][0]["name"] = "worker-1"
    crash = crash_record({"id": 7, "analysis": analysis})
    document = json.loads(crash_document(crash) or "")
    variables = document["threads"][0]["frames"][1]["locals"]
    assert variables["addr"] == "0" and "hunter2" not in json.dumps(document)
    assert document["threads"][0]["name"] == "worker-1"
    bare = crash_document(crash, with_locals=False) or ""
    assert '"addr"' not in bare and '"locals"' not in bare and "handle" in bare
    assert crash_document(crash_record({"id": 8})) is None
    page = build_crash_page(crash, None)
    assert page.document_href == "crashes/7.json" and page.threads[0].name == "worker-1"


def test_python_name_in_the_thread_title_not_in_the_signature() -> None:
    from triage.signature import compute

    frames = [{"kind": "python", "function": "f", "file": "/app/a.py", "line": 3}]
    analyses = [
        {"threads": [{"tid": 1, "crashed": True, "python_name": name, "frames": frames}]}
        for name in ("Thread-12 (work)", "Thread-13 (work)")
    ]
    shown = build_crash_page(crash_record({"id": 1, "analysis": analyses[0]}), None, True)
    assert shown.threads[0].python_name == "Thread-12 (work)"
    first, second = (compute(from_json(a)) for a in analyses)
    assert first == second
