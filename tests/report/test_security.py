"""Markup planted in everything that comes from a core or a sidecar never becomes active."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from reportkit import NOW, Database, Page, active_markup, with_native_frames

from triage.report.build import render_all
from triage.report.render import template_root

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</style><script>alert(2)</script>",
    "javascript:alert(3)",
)
EVIL = " ".join(PAYLOADS)


def plant(document: dict[str, Any]) -> dict[str, Any]:
    """The real analysis with the payloads in every string a core can supply."""
    doc = copy.deepcopy(with_native_frames(document))
    doc["source"].update(path=f"/spool/{EVIL}", executable=f"/usr/bin/{EVIL}")
    doc["process"]["argv"] = ["python", EVIL]
    doc["process"]["python_version"] = EVIL
    doc["warnings"] = [EVIL]
    doc["missing_libraries"] = [f"/lib/{EVIL}.so"]
    doc["error"] = EVIL
    for thread in doc["threads"]:
        thread["warnings"] = [EVIL]
        thread["gil"] = EVIL  # not one of the known states: shown as nothing
        for frame in thread["frames"]:
            frame["function"] = f"{frame['function']}{EVIL}"
            frame["file"] = f"/app/{EVIL}.py"
            frame["kind"] = frame["kind"] if frame["kind"] == "native" else EVIL
            if "library" in frame:
                frame.update(library=f"lib{EVIL}.so", address=EVIL)
            frame["arguments"] = [EVIL]
            frame["locals"] = {EVIL: EVIL, "ok": EVIL}
            frame["source"] = EVIL
    return doc


@pytest.fixture
def evil_site(database: Database, real_analysis: dict[str, Any], tmp_path: Path) -> Path:
    sidecar = {EVIL: EVIL, "host": EVIL, "tags": {EVIL: [EVIL]}}
    group = database.group(f"SIGSEGV | {EVIL}", hash=EVIL[:64])
    fields = {
        "path": f"/spool/{EVIL}",
        "host": EVIL,
        "executable": f"/usr/bin/{EVIL}",
        "python_version": EVIL[:32],
        "signal": EVIL[:32],
        "service": EVIL,
        "release": EVIL,
        "context": sidecar,
    }
    database.crash(group, plant(real_analysis), **fields)
    database.crash(None, None, status="failed", error=EVIL, **fields)
    database.crash(None, None, status="pending", **fields)
    out = tmp_path / "site"
    render_all(database.store, out, today=NOW.date())
    return out


def test_no_active_markup_on_any_page(evil_site: Path) -> None:
    own_script = (template_root() / "_script.js").read_text(encoding="utf-8")
    pages = sorted(evil_site.rglob("*.html"))
    assert len(pages) == 5  # index, one group, three crashes
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert active_markup(html, own_script) == [], page
        # The payloads are there, as text a reader can see (escaped, not dropped).
        assert "<script>alert(1)</script>" in Page(html).text, page


def test_every_planted_field_is_shown_as_text(evil_site: Path) -> None:
    crash = Page((evil_site / "crashes/1.html").read_text(encoding="utf-8")).text
    for where in (f"/spool/{EVIL}", f"/usr/bin/{EVIL}", f"/app/{EVIL}.py", f"lib{EVIL}.so"):
        assert where in crash, where
    assert crash.count(EVIL) >= 20


def test_page_names_come_from_ids_only(evil_site: Path) -> None:
    names = sorted(
        str(p.relative_to(evil_site))
        for p in evil_site.rglob("*")
        if p.is_file() and not p.name.startswith(".")  # the renderers' lock file
    )
    assert names == [
        "crashes/1.html",
        "crashes/1.json",
        "crashes/2.html",
        "crashes/3.html",
        "groups/1.html",
        "index.html",
    ]


def test_pages_forbid_every_script_but_their_own(evil_site: Path) -> None:
    """Defense in depth: the CSP allows only the page's own inline style and script."""
    page = Page((evil_site / "index.html").read_text(encoding="utf-8"))
    policies = [m["content"] for m in page.tags("meta") if m.get("http-equiv")]
    assert len(policies) == 1
    policy = policies[0] or ""
    assert "default-src 'none'" in policy
    assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy


def test_locals_across_the_group_and_documents_are_inert(evil_site: Path) -> None:
    import json

    group = Page((evil_site / "groups/1.html").read_text(encoding="utf-8"))
    assert "Locals across the group" in group.text
    spread = group.text.split("Locals across the group", 1)[1]
    # Planted names and values (long ones cut, as every long repr), shown as text.
    assert f"{PAYLOADS[0]} {PAYLOADS[1]}" in spread and "… in 100% of 1" in spread
    # The download is JSON data, never markup a browser would run: it parses as the document.
    document = json.loads((evil_site / "crashes/1.json").read_text(encoding="utf-8"))
    assert document["source"]["path"] == f"/spool/{EVIL}"
