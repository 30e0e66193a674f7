"""The site rendered from a real SQLite database holding the analysis of a real core."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from reportkit import NOW, Database, Page, with_native_frames

from triage.cli import main
from triage.report.build import render_all, render_changed

TODAY = NOW.date()


def published(out: Path) -> list[Path]:
    """The files of the site (the renderers' dot-named lock file is not part of it)."""
    return [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]


def read(out: Path, name: str) -> Page:
    return Page((out / name).read_text(encoding="utf-8"))


def frame_origins(html: str) -> list[tuple[str, str]]:
    """(function, origin) of each frame, in page order."""
    result = []
    for block in html.split('<li class="frame ')[1:]:
        origin = block.split(" ", 1)[0]
        function = block.split('<span class="fn">', 1)[1].split("</span>", 1)[0]
        result.append((function, origin))
    return result


@pytest.fixture
def site(database: Database, real_analysis: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    group = database.group("SIGABRT | service:handle_request | service:on_object")
    native = with_native_frames(real_analysis)
    older = database.crash(group, real_analysis, host=socket.gethostname())
    newer = database.crash(group, native, host="web-2", python_version="3.12.3")
    failed = database.crash(None, None, status="failed", error="not an ELF core file")
    pending = database.crash(None, None)
    out = tmp_path / "site"
    # Source lines only come from the application's own directory (its source root).
    files = [f["file"] for t in real_analysis["threads"] for f in t["frames"]]
    root = str(Path(next(f for f in files if f.endswith("service.py"))).parent)
    stats = render_all(database.store, out, today=TODAY, source_roots=(root,))
    return {
        "roots": (root,),
        "out": out,
        "stats": stats,
        "group": group,
        "older": older,
        "newer": newer,
        "failed": failed,
        "pending": pending,
    }


def test_every_page_is_written(site: dict[str, Any]) -> None:
    out: Path = site["out"]
    names = sorted(str(p.relative_to(out)) for p in published(out))
    ids = [site[key] for key in ("older", "newer", "failed", "pending")]
    expected = [f"crashes/{i}.html" for i in ids] + [f"groups/{site['group']}.html"]
    # The analysis documents to download, of the crashes that have one.
    expected += [f"crashes/{site[key]}.json" for key in ("older", "newer")]
    assert names == sorted(expected + ["index.html"])
    assert site["stats"].written == len(names)


def test_index_lists_groups_and_problem_cores(site: dict[str, Any]) -> None:
    page = read(site["out"], "index.html")
    links = [a["href"] for a in page.tags("a")]
    assert f"groups/{site['group']}.html" in links
    assert f"crashes/{site['newer']}.html" in links  # newest crash of the group
    assert f"crashes/{site['failed']}.html" in links and f"crashes/{site['pending']}.html" in links
    assert "not an ELF core file" in page.text
    assert "1 failed" in page.text and "1 pending" in page.text
    assert "SIGABRT | service:handle_request" in page.text
    for value in (socket.gethostname(), "web-2", "3.11", "3.12.3"):
        assert value in page.text
    sparkline = page.tags("path")
    assert sparkline and sparkline[0]["d"].startswith("M")


def test_group_page_shows_signature_breakdowns_and_stack(site: dict[str, Any]) -> None:
    html = (site["out"] / f"groups/{site['group']}.html").read_text()
    page = Page(html)
    assert "service:handle_request" in page.text
    for value in (socket.gethostname(), "web-2", "2024.05.1", "3.12.3"):
        assert value in page.text
    # The representative is the newest crash (equally informative): its merged stack has the
    # native frames, shown crashing frame first.
    functions = [name for name, _ in frame_origins(html)]
    assert functions[:3] == ["abort", "os_abort_impl", "handle_request"]
    assert "serve" in functions and "on_object" in functions
    assert "most informative" in page.text
    # Locals across the group: both crashes had the same values in handle_request.
    assert "Locals across the group" in page.text
    assert "'mallory' in 100% of 2" in page.text and "3 in 100% of 2" in page.text
    assert "hunter2" not in html
    # Every occurrence with its host and core path.
    assert "web-2" in page.text and "/spool/core.1" in page.text
    occurrences = {a["href"] for a in page.tags("a")}
    assert {f"../crashes/{site['older']}.html", f"../crashes/{site['newer']}.html"} <= occurrences


def test_crash_page_shows_threads_frames_origins_and_locals(site: dict[str, Any]) -> None:
    html = (site["out"] / f"crashes/{site['newer']}.html").read_text()
    page = Page(html)
    headings = [h for h in page.tags("h2") if (h.get("id") or "").startswith("t")]
    assert len(headings) == 2  # the crashed thread and the idle one
    # threading's names, read from the core, in the thread titles.
    assert "\u201cMainThread\u201d" in page.text and "\u201cidle\u201d" in page.text
    origins = dict(frame_origins(html))
    assert origins["handle_request"] == "own"
    assert origins["serve"] == "own"
    assert origins["call"] == "library"  # site-packages
    assert origins["decode"] == "library"  # the standard library's json
    assert origins["os_abort_impl"] == "interpreter"
    assert origins["abort"] == "library"  # libc
    assert "(inlined)" not in page.text and "inlined" in page.text
    assert "libpython3.11.so.1.0" in page.text
    # Locals were recorded: arguments and other locals, with their reprs.
    assert "'mallory'" in page.text  # an ordinary local
    assert "secret_token" in page.text and "[redacted]" in page.text and "hunter2" not in html
    assert "retries" in page.text
    assert "SIGABRT" in page.text and "orders" in page.text and "env=prod" in page.text
    assert "/spool/core.2" in page.text
    links = [a for a in page.tags("a") if a.get("href") == f"../crashes/{site['newer']}.json"]
    assert links and "download" in links[0]


def test_crash_documents_are_the_scrubbed_analysis(site: dict[str, Any]) -> None:
    import json

    document = json.loads((site["out"] / f"crashes/{site['newer']}.json").read_text())
    names = [f["function"] for t in document["threads"] for f in t["frames"]]
    assert "handle_request" in names and "abort" in names
    text = json.dumps(document)
    assert "'mallory'" in text and "secret_token" in text and "hunter2" not in text
    assert not (site["out"] / f"crashes/{site['pending']}.json").exists()


def test_source_lines_only_for_cores_of_this_host(site: dict[str, Any]) -> None:
    local = read(site["out"], f"crashes/{site['older']}.html")
    remote = read(site["out"], f"crashes/{site['newer']}.html")
    assert "os.abort()" in local.text
    assert "os.abort()" not in remote.text


def test_no_source_lines_outside_the_source_roots(
    database: Database, real_analysis: dict[str, Any], tmp_path: Path
) -> None:
    group = database.group("SIGABRT | service:handle_request")
    crash = database.crash(group, real_analysis, host=socket.gethostname())
    for roots in ((), (str(tmp_path / "elsewhere"),)):
        out = tmp_path / f"site{len(roots)}"
        render_all(database.store, out, today=TODAY, source_roots=roots)
        assert "os.abort()" not in read(out, f"crashes/{crash}.html").text


def test_failed_and_pending_crash_pages(site: dict[str, Any]) -> None:
    failed = read(site["out"], f"crashes/{site['failed']}.html")
    assert "not an ELF core file" in failed.text and "failed" in failed.text
    pending = read(site["out"], f"crashes/{site['pending']}.html")
    assert "the core is pending" in pending.text


def test_no_locals_leaves_values_out_of_every_page(
    database: Database, real_analysis: dict[str, Any], tmp_path: Path
) -> None:
    group = database.group("SIGABRT | service:handle_request")
    database.crash(group, real_analysis)
    out = tmp_path / "site"
    render_all(database.store, out, no_locals=True, today=TODAY)
    for page in [*out.rglob("*.html"), *out.rglob("*.json")]:
        text = page.read_text()
        assert "mallory" not in text and "secret_token" not in text, page
    assert (out / "crashes/1.json").is_file()
    assert "handle_request" in (out / "crashes/1.html").read_text()


def test_unchanged_pages_are_not_rewritten(site: dict[str, Any], database: Database) -> None:
    out: Path = site["out"]
    before = {p: p.stat().st_mtime_ns for p in published(out)}
    stats = render_all(database.store, out, today=TODAY, source_roots=site["roots"])
    assert stats.written == 0 and stats.unchanged == len(before)
    assert {p: p.stat().st_mtime_ns for p in published(out)} == before
    # No temp files left; the renderers' lock file stays (it is only ever locked, never read).
    assert [p.name for p in out.rglob("*") if p.name.startswith(".")] == [".triage-render.lock"]


def test_render_changed_touches_only_the_new_crash_pages(
    site: dict[str, Any], database: Database, real_analysis: dict[str, Any]
) -> None:
    out: Path = site["out"]
    other = database.group("SIGSEGV | other:thing")
    other_crash = database.crash(other, real_analysis)
    render_all(database.store, out, today=TODAY)
    before = {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*.html")}

    new = database.crash(site["group"], real_analysis, host="web-3")
    stats = render_changed(database.store, out, [new], today=TODAY)

    after = {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*.html")}
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {"index.html", f"groups/{site['group']}.html", f"crashes/{new}.html"}
    assert stats.written == 4  # and the new crash's document
    assert (out / f"crashes/{new}.json").is_file()
    assert f"groups/{other}.html" in after and f"crashes/{other_crash}.html" in after
    assert "web-3" in read(out, f"groups/{site['group']}.html").text


def test_render_changed_into_an_empty_directory_renders_everything(
    database: Database, real_analysis: dict[str, Any], tmp_path: Path
) -> None:
    from triage import report

    first = database.crash(database.group("SIGABRT | a"), real_analysis)
    second = database.crash(database.group("SIGABRT | b"), real_analysis)
    out = tmp_path / "site"
    stats = report.render_changed(database.store.engine, out, [second], today=TODAY)
    assert stats.written == 7 and (out / f"crashes/{first}.json").is_file()


def test_large_groups_are_paginated_and_stale_pages_removed(
    database: Database, tmp_path: Path
) -> None:
    group = database.group("SIGSEGV | big")
    for _ in range(230):
        database.crash(group, None, status="done")
    out = tmp_path / "site"
    (out / "crashes").mkdir(parents=True)
    (out / "crashes/9999.html").write_text("stale")
    (out / "crashes/9999.json").write_text("stale")
    (out / "crashes/README.txt").write_text("not ours")
    render_all(database.store, out, today=TODAY)
    assert not (out / "crashes/9999.html").exists()
    assert not (out / "crashes/9999.json").exists()
    assert (out / "crashes/README.txt").exists()
    pages = sorted(p.name for p in (out / "groups").iterdir())
    assert pages == [f"{group}-p2.html", f"{group}-p3.html", f"{group}.html"]
    last = read(out, f"groups/{group}-p3.html")
    rows = [a for a in last.tags("a") if (a.get("href") or "").startswith("../crashes/")]
    assert len(rows) == 30
    assert rows[0]["href"] == "../crashes/30.html"  # newest first: 230..131, 130..31, 30..1
    first = read(out, f"groups/{group}.html")
    assert f"{group}-p2.html" in {(a.get("href") or "").rsplit("/", 1)[-1] for a in first.tags("a")}


def test_worker_processes_render_the_same_site(
    site: dict[str, Any], database: Database, tmp_path: Path
) -> None:
    serial: Path = site["out"]
    parallel = tmp_path / "parallel"
    roots = site["roots"]
    stats = render_all(database.store, parallel, today=TODAY, workers=2, source_roots=roots)
    assert stats.written == site["stats"].written
    for page in serial.rglob("*.html"):
        assert (parallel / page.relative_to(serial)).read_bytes() == page.read_bytes(), page
    again = render_all(database.store, parallel, today=TODAY, workers=2, source_roots=roots)
    assert again.written == 0 and again.removed == 0


def test_report_command(database: Database, real_analysis: dict[str, Any], tmp_path: Path) -> None:
    group = database.group("SIGABRT | service:handle_request")
    database.crash(group, real_analysis)
    out = tmp_path / "site"
    assert main(["report", "--db", database.url, "--out", str(out), "--no-locals"]) == 0
    assert (out / "index.html").is_file() and (out / "crashes/1.html").is_file()
    assert "mallory" not in (out / "crashes/1.html").read_text()


def test_report_command_writes_where_reports_go_by_default(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIAGE_REPORTS", raising=False)
    assert main(["report", "--db", database.url]) == 0
    assert (tmp_path / "triage-reports" / "index.html").is_file()


def test_thread_names_are_shown(
    database: Database, real_analysis: dict[str, Any], tmp_path: Path
) -> None:
    import copy

    named = copy.deepcopy(real_analysis)
    for thread in named["threads"]:
        thread["name"] = "MainThread" if thread["crashed"] else "idle-worker"
    crash = database.crash(database.group("SIGABRT | named"), named)
    out = tmp_path / "site"
    render_all(database.store, out, today=TODAY)
    page = read(out, f"crashes/{crash}.html")
    headings = " ".join(page.text_parts)
    assert "MainThread" in headings and "idle-worker" in headings
    assert "MainThread" in read(out, "groups/1.html").text  # the signed thread
