"""Static HTML reports: page contexts (``context``), rendering (``render``), store queries.

``render_all`` renders the whole site; ``render_changed`` only what some new crashes change
(``triage ingest`` and ``triage watch`` call it after each batch).
"""

from __future__ import annotations

from .build import RenderStats, render_all, render_changed

__all__ = ["RenderStats", "render_all", "render_changed"]
