"""Rendering pages with one cached jinja2 Environment, and writing them atomically.

Every value from a core (names, paths, reprs, sidecar fields) reaches the markup through
autoescape; the pages also carry a Content-Security-Policy that allows only their own inline
style and script (by hash), so even a template mistake could not run a script from a core.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ReportError
from . import paths

if TYPE_CHECKING:
    import jinja2

    from .context import CrashPage, GroupPage, IndexPage

TEMPLATE_DIR = "templates"
STYLE = "_style.css"
SCRIPT = "_script.js"
PAGE_MODE = 0o644  # mkstemp makes 0600 files: a web server serving the report must read them


def template_root() -> Any:
    """``triage/templates`` of the installed package, else the checkout's ``templates/``."""
    installed = importlib.resources.files("triage") / TEMPLATE_DIR
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[2] / TEMPLATE_DIR
    if checkout.is_dir():
        return checkout
    raise ReportError(
        "the report templates are missing",
        help="Reinstall coretriage; from a checkout, the top-level templates/ must exist.",
    )


@dataclass(frozen=True)
class Assets:
    """The inline stylesheet and script, and the policy that allows exactly these two."""

    css: str
    js: str
    csp: str


def _sha256_source(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _assets(root: Any) -> Assets:
    from markupsafe import Markup

    css = (root / STYLE).read_text(encoding="utf-8")
    js = (root / SCRIPT).read_text(encoding="utf-8")
    csp = (
        "default-src 'none'; "
        f"style-src {_sha256_source(css)}; script-src {_sha256_source(js)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    # Markup: our own files, inserted verbatim so that their hashes match the policy.
    return Assets(Markup(css), Markup(js), csp)


@functools.cache
def environment() -> jinja2.Environment:
    """The one Environment: autoescape for every template, undefined names are errors."""
    import jinja2

    root = template_root()

    def load(name: str) -> str:
        # Template names are ours (page kinds), never taken from a core.
        try:
            return (root / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise jinja2.TemplateNotFound(name) from None

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=-1,
    )
    env.globals["assets"] = _assets(root)
    return env


def render_page(template: str, page: object) -> str:
    return environment().get_template(template).render(page=page)


def render_index(page: IndexPage) -> str:
    return render_page("index.html", page)


def render_group(page: GroupPage) -> str:
    return render_page("group.html", page)


def render_crash(page: CrashPage) -> str:
    return render_page("crash.html", page)


class SiteWriter:
    """Writes pages under ``out_dir`` atomically, skipping those whose content is unchanged."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.written = 0
        self.unchanged = 0
        self.pages: set[str] = set()  # every page of this run, written or not
        self._made: set[Path] = set()

    def write(self, relative: str, content: str) -> bool:
        """Write one page (``relative`` from ``paths``); False when it was already current."""
        self.pages.add(relative)
        target = self.out_dir / relative
        data = content.encode("utf-8")
        if _same_content(target, data):
            self.unchanged += 1
            return False
        self._mkdir(target.parent)
        atomic_write(target, data)
        self.written += 1
        return True

    def merge(self, written: int, unchanged: int, pages: list[str]) -> None:
        """Account for pages a worker process wrote into the same directory."""
        self.written += written
        self.unchanged += unchanged
        self.pages.update(pages)

    def _mkdir(self, directory: Path) -> None:
        if directory not in self._made:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ReportError(f"cannot create {directory}: {exc.strerror or exc}") from exc
            self._made.add(directory)

    def remove_stale(self, directory: str) -> int:
        """Delete pages of ``directory`` (``groups``/``crashes``) this run did not produce.

        Only names this module would write (digits, ``-p<n>``, ``.html``) are touched.
        """
        removed = 0
        folder = self.out_dir / directory
        if not folder.is_dir():
            return 0
        for entry in folder.iterdir():
            relative = f"{directory}/{entry.name}"
            if relative not in self.pages and paths.is_page_name(entry.name):
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def remove_extra_group_pages(self, group_id: int, pages: int) -> None:
        """A group that shrank (re-signed crashes) must not keep links to its old last pages."""
        number = pages + 1
        while True:
            extra = self.out_dir / paths.group_path(group_id, number)
            if not extra.exists():
                return
            extra.unlink(missing_ok=True)
            number += 1


def _same_content(target: Path, data: bytes) -> bool:
    """Compare by size, then by SHA-256: an unchanged page keeps its mtime (caches, rsync)."""
    try:
        if target.stat().st_size != len(data):
            return False
        existing = target.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(existing).digest() == hashlib.sha256(data).digest()


def atomic_write(target: Path, data: bytes) -> None:
    """A temp file in the same directory, then rename: readers see the old or the new page."""
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ReportError(f"cannot write in {target.parent}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            os.fchmod(stream.fileno(), PAGE_MODE)
        os.replace(temp, target)
    except BaseException as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ReportError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise
