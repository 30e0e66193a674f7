"""The site in headless Chromium from file://: sort, filter, click through, no console errors.

Uses the system's Chromium (Debian package ``chromium``) through Playwright; Playwright's own
browser downloads are never used. Screenshots are kept in the test's tmp dir as artifacts, and
copied to ``$TRIAGE_TEST_ARTIFACTS`` when it is set (CI uploads that directory).
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from reportkit import NOW, Database, with_native_frames

from triage.report.build import render_all

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
WIDTHS = (1400, 420)  # a desktop and a phone held upright


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium binary (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """SQLite only here: what is checked is the rendering, which the other report tests run on
    both backends."""
    db = Database(f"sqlite:///{tmp_path / 'triage.db'}")
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def site(database: Database, real_analysis: dict[str, Any], tmp_path: Path) -> Path:
    native = with_native_frames(real_analysis)
    alpha = database.group(
        "SIGABRT | service:handle_request | alpha",
        first_release="2024.2",
        last_release="2024.10",
        first_seen=NOW - timedelta(days=12),
    )
    beta = database.group("SIGSEGV | beta:parse", status="regressed", resolved_in="2024.9")
    gamma = database.group("SIGBUS | gamma:mmap", kind="hang", status="resolved")
    versions = ("3.11.9", "3.6.15", "3.13.0", "2.7.18", "3.10.14")
    long_path = "/opt/pyenv/versions/3.13.0/very/long/installation/prefix/bin/python3.13"
    for group, count in ((alpha, 4), (beta, 1), (gamma, 2)):
        for n in range(count):
            database.crash(
                group,
                with_local(native, "handle_request", "customer", "'trent'" if n == 3 else None),
                python_version=versions[n],
                executable=long_path if n else "/usr/bin/python3",
                host=f"web-{n}.example.internal",
                crashed_at=NOW - timedelta(days=4 * n, hours=n),  # a trend over days
            )
    database.crash(None, None, status="failed", error="truncated core")
    database.crash(None, None)  # pending
    out = tmp_path / "site"
    render_all(database.store, out, today=NOW.date())
    return out


def with_local(document: dict[str, Any], function: str, name: str, value: str | None) -> Any:
    """The document with one local of one function set, so that values vary across a group."""
    if value is None:
        return document
    changed = copy.deepcopy(document)
    for thread in changed["threads"]:
        for frame in thread["frames"]:
            if frame["function"] == function and name in (frame.get("locals") or {}):
                frame["locals"][name] = value
    return changed


class Console:
    """Console errors, page errors and failed requests of a page (CSP violations included)."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("requestfailed", lambda request: self.errors.append(f"failed: {request.url}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")


def signatures(page: Any) -> list[str]:
    return page.locator("#groups tbody tr:visible td.sig a").all_inner_texts()


def test_browse_sort_filter_and_click_through(browser: Any, site: Path, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = Console(page)
    page.goto((site / "index.html").as_uri())
    assert len(signatures(page)) == 3

    count = page.locator("#groups thead th", has_text="Count").locator("button")
    count.click()  # numbers: largest first
    assert [s.split(" | ")[0] for s in signatures(page)] == ["SIGABRT", "SIGBUS", "SIGSEGV"]
    count.click()
    assert [s.split(" | ")[0] for s in signatures(page)] == ["SIGSEGV", "SIGBUS", "SIGABRT"]
    page.locator("#groups thead th", has_text="Signature").locator("button").click()
    assert [s.split(" | ")[0] for s in signatures(page)] == ["SIGABRT", "SIGBUS", "SIGSEGV"]

    page.fill("#group-filter", "beta")
    assert signatures(page) == ["SIGSEGV | beta:parse"]
    assert page.locator(".filter output").inner_text() == "1 of 3 shown"
    page.fill("#group-filter", "")
    assert len(signatures(page)) == 3
    page.screenshot(path=str(shots / "index.png"), full_page=True)

    page.get_by_role("link", name="SIGABRT | service:handle_request | alpha").click()
    page.wait_for_load_state()
    assert page.url.endswith("/groups/1.html")
    own = page.locator("li.frame.own .fn").all_inner_texts()
    assert "handle_request" in own and "serve" in own
    assert page.locator("li.frame.interpreter .fn").all_inner_texts() == ["os_abort_impl"]
    stack = page.locator("#stack-frames li.frame .fn")
    assert stack.first.inner_text() == "abort"  # the crashing frame first
    toggle = page.locator("button[data-reverse]")
    toggle.click()  # call order, as the crash page shows it
    assert stack.last.inner_text() == "abort"
    assert toggle.inner_text() == "Show the crashing frame first"
    toggle.click()
    assert stack.first.inner_text() == "abort"
    spread = page.locator("#locals ~ .table-wrap table.spread").first.inner_text()
    assert "2 distinct of 4" in spread and "'mallory' 75% (3)" in spread
    page.screenshot(path=str(shots / "group.png"), full_page=True)

    page.locator("#occurrences-table a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/crashes/4.html")
    assert page.locator("section.thread").count() == 2
    crashed = page.locator("section.thread").first
    assert "crashed" in crashed.locator("h2").inner_text()
    functions = crashed.locator("li.frame .fn").all_inner_texts()
    assert functions[-3:] == ["handle_request", "os_abort_impl", "abort"]
    library = crashed.locator("li.frame.library .fn").all_inner_texts()
    assert "decode" in library and "call" in library
    assert "'trent'" in crashed.inner_text() and "hunter2" not in crashed.inner_text()
    page.screenshot(path=str(shots / "crash.png"), full_page=True)
    context.close()
    assert console.errors == []


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_phone_and_color_schemes(browser: Any, site: Path, tmp_path: Path, scheme: str) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme=scheme, is_mobile=True
    )
    page = context.new_page()
    console = Console(page)
    for name in ("index.html", "groups/1.html", "crashes/1.html"):
        page.goto((site / name).as_uri())
        # Nothing wider than the phone: long names and paths wrap instead of scrolling.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, name
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        text = page.evaluate("getComputedStyle(document.body).color")
        assert (background == "rgb(21, 24, 28)") == (scheme == "dark"), background
        assert background != text
        shot = tmp_path / f"{scheme}-phone-{name.replace('/', '-')}.png"
        page.screenshot(path=str(shot), full_page=True)
    if scheme == "light":  # print: the same pages on paper (headless Chromium makes PDFs)
        page.emulate_media(media="print")
        page.pdf(path=str(tmp_path / "crash-print.pdf"))
    context.close()
    assert console.errors == []


def test_works_without_javascript(browser: Any, site: Path) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto((site / "index.html").as_uri())
    assert not page.locator("#group-filter").is_visible()  # useless without the script
    # The server's order is the default sort: the worst first (most crashes this week).
    assert [s.split(" | ")[0] for s in signatures(page)] == ["SIGABRT", "SIGBUS", "SIGSEGV"]
    assert page.locator("#groups thead button").count() == 0
    page.goto((site / "groups/1.html").as_uri())
    assert page.locator("#stack-frames li.frame .fn").first.inner_text() == "abort"
    assert not page.locator("button[data-reverse]").is_visible()
    context.close()


def test_sorts_versions_and_statuses_as_such(browser: Any, site: Path) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto((site / "index.html").as_uri())
    header = page.locator("#groups thead th")
    header.filter(has_text="Status").locator("button").click()  # the worst status first
    assert [s.split(" | ")[0] for s in signatures(page)] == ["SIGSEGV", "SIGABRT", "SIGBUS"]
    python = page.locator("#groups tbody td[data-label=Python]")
    header.filter(has_text="Python").locator("button").click()  # newest version first
    assert python.first.inner_text() == "2.7.18–3.13.0 (4)"
    assert python.first.get_attribute("title") == "2.7.18, 3.6.15, 3.11.9, 3.13.0"
    executables = page.locator("#groups tbody .exe")
    assert "python3.13" in executables.all_inner_texts()
    assert (
        executables.filter(has_text="python3.13")
        .first.get_attribute("title")
        .startswith("/opt/pyenv/")
    )
    context.close()


def keep(shot: Path) -> None:
    """A screenshot is a test artifact: also copied where CI collects them, if it says where."""
    target = os.environ.get("TRIAGE_TEST_ARTIFACTS")
    if target:
        folder = Path(target) / "report-screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, folder / shot.name)


PAGE_KINDS = {
    "index": "index.html",
    "group": "groups/1.html",
    "hang-group": "groups/3.html",
    "crash": "crashes/1.html",
    "failed-crash": "crashes/8.html",
    "pending-crash": "crashes/9.html",
}


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_kind_at_desktop_and_phone_widths(
    browser: Any, site: Path, tmp_path: Path, width: int
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    console = Console(page)
    for kind, name in PAGE_KINDS.items():
        page.goto((site / name).as_uri())
        page.wait_for_load_state()
        # The page itself never scrolls sideways; a wide table may, inside its wrapper.
        overflow = page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        )
        assert overflow <= width, f"{name} is {overflow}px wide at {width}px"
        shot = shots / f"{kind}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        keep(shot)
    context.close()
    assert console.errors == []


def test_artifacts_are_kept(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Screenshots live under pytest's basetemp, which keeps the last runs for inspection.
    assert os.path.isdir(tmp_path_factory.getbasetemp())
