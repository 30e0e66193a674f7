"""The benchmark scripts still run against the package as it is now (they are not run in CI,
and an API they use can change under them unnoticed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

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


def test_pipeline_benchmark_reports_medians(monkeypatch: Any) -> None:
    """Ingest figures are the median of RUNS runs, wall time and CPU time alike."""
    pipeline = _load("pipeline")
    walls, cpus = iter([3.0, 1.0, 2.0, 5.0, 4.0]), iter([30.0, 10.0, 50.0, 20.0, 40.0])

    def one_run(cores: list[Path], workdir: Path, workers: int | None, **how: Any) -> float:
        pipeline.CPU_SECONDS[pipeline._cpu_key(cores, workers, **how)] = next(cpus)
        return next(walls)

    monkeypatch.setattr(pipeline, "RUNS", 5)
    monkeypatch.setattr(pipeline, "time_ingest", one_run)
    cores = [Path("core.1"), Path("core.2")]
    assert pipeline.median_ingest(cores, Path("."), None) == 3.0
    assert pipeline.CPU_SECONDS[pipeline._cpu_key(cores, None)] == 30.0
