"""The site in headless Chromium from file://: sort, filter, click through, no console errors.

Uses the system's Chromium (Debian package ``chromium``) through Playwright; Playwright's own
browser downloads are never used. Screenshots are kept in the test's tmp dir as artifacts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reportkit import NOW, Database, with_native_frames

from triage.report.build import render_all

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")


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
def site(database: Database, real_analysis: dict[str, Any], tmp_path: Path) -> Path:
    native = with_native_frames(real_analysis)
    alpha = database.group("SIGABRT | service:handle_request | alpha")
    beta = database.group("SIGSEGV | beta:parse")
    gamma = database.group("SIGBUS | gamma:mmap")
    for group, count in ((alpha, 3), (beta, 1), (gamma, 2)):
        for _ in range(count):
            database.crash(group, native)
    database.crash(None, None, status="failed", error="truncated core")
    out = tmp_path / "site"
    render_all(database.store, out, today=NOW.date())
    return out


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
    return page.locator("#groups tbody tr:visible td.sig").all_inner_texts()


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
    page.screenshot(path=str(shots / "group.png"), full_page=True)

    page.locator("#occurrences-table a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/crashes/3.html")
    assert page.locator("section.thread").count() == 2
    crashed = page.locator("section.thread").first
    assert "crashed" in crashed.locator("h2").inner_text()
    functions = crashed.locator("li.frame .fn").all_inner_texts()
    assert functions[-3:] == ["handle_request", "os_abort_impl", "abort"]
    library = crashed.locator("li.frame.library .fn").all_inner_texts()
    assert "decode" in library and "call" in library
    assert "'mallory'" in crashed.inner_text() and "hunter2" not in crashed.inner_text()
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
    assert len(signatures(page)) == 3
    assert page.locator("#groups thead button").count() == 0
    context.close()


def test_artifacts_are_kept(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Screenshots live under pytest's basetemp, which keeps the last runs for inspection.
    assert os.path.isdir(tmp_path_factory.getbasetemp())
