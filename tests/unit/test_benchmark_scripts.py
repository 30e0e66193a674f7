"""The benchmark scripts still run against the package as it is now (they are not run in CI,
and an API they use can change under them unnoticed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pipeline_benchmark_queries_run(tmp_path: Path) -> None:
    pipeline = _load("pipeline")
    url = f"sqlite:///{tmp_path / 'filled.db'}"
    pipeline.fill_database(url, 300, 10)
    figures = pipeline.time_queries(url)
    assert len(figures) == 4 and all(ms > 0 for ms in figures.values())
