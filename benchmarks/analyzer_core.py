"""Core-dump analysis: ``triage core`` vs ``pystack core`` vs gdb, on the same cores, one run.

For every installed interpreter (pyenv builds and /usr/bin/python3; ``--quick``: one), a small
sleeping multi-threaded script is dumped with gcore. On each core, each tool runs N times per
round, the tools taking turns; the figure reported is the lower of the round medians (the
machine may be busy with other work). Peak RSS is the child's own ru_maxrss. A large core (a
process holding 1 GiB of touched memory) checks the RSS bound. The in-process time of
``triage._native.analyze_core`` separates analysis from interpreter start-up.

    .venv/bin/python benchmarks/analyzer_core.py [--quick] [--runs 7] [--rounds 2]
        [--no-large] [--json-out FILE] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import analyzer_common as common

TARGET = """\
import sys, threading, time

def bench_leaf(n):
    while True:
        time.sleep(3600)

def bench_middle(n):
    bench_leaf(n)

def bench_top(n):
    bench_middle(n)

def main():
    hold = None
    if len(sys.argv) > 1 and sys.argv[1] == "big":
        hold = bytearray(1 << 30)
        pages = (len(hold) + 4095) // 4096
        hold[::4096] = b"\\x01" * pages  # touch every page: all of it is in the core
    for i in range(4):
        thread = threading.Thread(target=bench_top, args=(i,))
        thread.daemon = True
        thread.start()
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    bench_top(-1)
    return hold

main()
"""
TARGET_THREADS = 5
MARKER = b"bench_leaf"

IN_PROCESS = """\
import json, resource, sys, time
from triage import _native
path, native, runs = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
times = []
for _ in range(runs):
    start = time.perf_counter()
    _native.analyze_core(path, native=native)
    times.append(time.perf_counter() - start)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"times": times, "maxrss_kib": usage.ru_maxrss}))
"""


@dataclass(frozen=True)
class Tool:
    name: str
    argv: tuple[str, ...]  # CORE and PYTHON are placeholders
    check: bytes  # must appear in stdout
    cold_cache: bool = False  # triage's symbol cache starts empty (else: warm from earlier runs)


# triage's symbol cache (TRIAGE_SYMBOL_CACHE): one directory kept for the whole benchmark (warm
# after the first run on each core), or a new empty one per run for the cold figures.
SYMBOL_CACHE_ENV = "TRIAGE_SYMBOL_CACHE"
WARM_CACHE = Path(tempfile.gettempdir()) / "analyzer-core-symbols"


def venv_python() -> str:
    candidate = common.VENV_BIN / "python"
    return str(candidate) if candidate.exists() else sys.executable


def tools() -> list[Tool]:
    triage, pystack = common.tool_path("triage"), common.tool_path("pystack")
    gdb = ["gdb", "-batch", "-ex", "thread apply all bt", "PYTHON", "CORE"]
    return [
        Tool("triage", (triage, "core", "CORE"), MARKER),
        Tool("pystack", (pystack, "core", "CORE"), MARKER),
        Tool("triage --native", (triage, "core", "--native", "CORE"), MARKER),
        Tool("triage --native cold", (triage, "core", "--native", "CORE"), MARKER, True),
        Tool("pystack --native", (pystack, "core", "--native", "CORE"), MARKER),
        Tool("gdb", tuple(gdb), b"#0 "),
        Tool("triage start-up", (triage, "--help"), b"usage"),
        Tool("pystack start-up", (pystack, "--help"), b"usage"),
        Tool("bare python start-up", (venv_python(), "-I", "-c", "print('usage')"), b"usage"),
    ]


ANALYSIS_TOOLS = 6  # the first six of tools(); the others only measure start-up


@dataclass
class Core:
    label: str
    python: Path
    path: Path
    size_mib: float
    series: dict[str, common.Series] = field(default_factory=dict)
    in_process: dict[str, list[float]] = field(default_factory=dict)  # round medians
    in_process_rss_mib: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Making the cores


def make_core(
    registry: common.Targets, python: Path, workdir: Path, big: bool = False
) -> Core | None:
    """gcore of the target under PYTHON once all its threads sleep; None (logged) on failure."""
    label = common.interpreter_label(python) + (" (1 GiB)" if big else "")
    script = workdir / "bench_target.py"
    script.write_text(TARGET)
    process = registry.start([str(python), str(script)] + (["big"] if big else []), workdir)
    try:
        if common.read_line(process, timeout=120) != "ready":
            raise RuntimeError("target did not say ready")
        common.wait_sleeping(process.pid, TARGET_THREADS, TARGET_THREADS)
        prefix = workdir / ("core-big" if big else f"core-{label.replace(' ', '-')}")
        subprocess.run(
            ["gcore", "-o", str(prefix), str(process.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=600,
        )
        path = Path(f"{prefix}.{process.pid}")
        return Core(label, python, path, path.stat().st_size / 2**20)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        common.log(f"{label}: no core: {exc}")
        return None
    finally:
        registry.stop(process)


# --------------------------------------------------------------------------------------------
# Measuring


def bench_core(core: Core, runs: int, rounds: int) -> None:
    """All tools on CORE, RUNS times per round in turns, then the in-process analysis."""
    tool_list = tools()
    for round_index in range(rounds):
        for run_index in range(runs):
            for tool in common.rotated(tool_list, run_index):
                run = common.retrying(lambda tool=tool: run_once(tool, core))
                core.series.setdefault(tool.name, common.Series()).add(round_index, run)
        for native in (False, True):
            _in_process(core, native, runs)
        common.log(f"  {core.label}: round {round_index + 1}/{rounds} done")


def run_once(tool: Tool, core: Core) -> common.Run:
    argv = [_fill(arg, core) for arg in tool.argv]
    cold = Path(tempfile.mkdtemp(prefix="analyzer-core-cold-")) if tool.cold_cache else None
    os.environ[SYMBOL_CACHE_ENV] = str(cold or WARM_CACHE)
    try:
        return common.measure(argv, timeout=300, check=lambda out: tool.check in out)
    finally:
        if cold is not None:
            shutil.rmtree(cold, ignore_errors=True)


def _fill(arg: str, core: Core) -> str:
    return {"CORE": str(core.path), "PYTHON": str(core.python)}.get(arg, arg)


def _in_process(core: Core, native: bool, runs: int) -> None:
    """Time ``analyze_core`` RUNS times in one fresh venv interpreter; keep the median."""
    key = "native" if native else "python"
    flag = "1" if native else "0"
    argv = [venv_python(), "-I", "-c", IN_PROCESS, str(core.path), flag, str(runs)]
    os.environ[SYMBOL_CACHE_ENV] = str(WARM_CACHE)
    run = common.retrying(lambda: common.measure(argv, timeout=600))
    try:
        data = json.loads(run.stdout) if run.ok else None
    except ValueError:
        data = None
    if data is None:
        core.errors.append(f"in-process {key}: {run.error or 'bad output'}")
        core.in_process.setdefault(key, []).append(float("nan"))
        return
    core.in_process.setdefault(key, []).append(statistics.median(data["times"]))
    rss = data["maxrss_kib"] / 1024
    core.in_process_rss_mib[key] = max(rss, core.in_process_rss_mib.get(key, 0.0))


# --------------------------------------------------------------------------------------------
# Reporting


def median_of(core: Core, tool: str) -> float:
    series = core.series.get(tool)
    return series.best_median() if series else float("nan")


def rss_of(core: Core, tool: str) -> float:
    series = core.series.get(tool)
    return series.peak_rss_mib() if series else float("nan")


def in_process_of(core: Core, key: str) -> float:
    return common.lower(core.in_process.get(key, []))


def time_row(label: str, values: dict[str, float]) -> list[str]:
    t, p = values["triage"], values["pystack"]
    tn, pn, g = values["triage --native"], values["pystack --native"], values["gdb"]
    tc = values["triage --native cold"]
    return [
        label,
        common.fmt_seconds(t),
        common.fmt_seconds(p),
        common.fmt_ratio(common.ratio(t, p)),
        common.fmt_seconds(values["in-process"]),
        common.fmt_seconds(tn),
        common.fmt_seconds(pn),
        common.fmt_seconds(g),
        common.fmt_ratio(common.ratio(tn, pn)),
        common.fmt_seconds(tc),
        common.fmt_ratio(common.ratio(tc, pn)),
        common.fmt_ratio(common.ratio(g, tn)),
        common.fmt_seconds(values["in-process --native"]),
    ]


TIME_HEADERS = [
    "interpreter",
    "triage",
    "pystack",
    "ours/pystack",
    "in-process",
    "triage --native",
    "pystack --native",
    "gdb bt",
    "ours/pystack (native)",
    "triage --native, cold cache",
    "ours/pystack (native, cold)",
    "gdb/ours (native)",
    "in-process --native",
]


def core_values(core: Core) -> dict[str, float]:
    values = {tool.name: median_of(core, tool.name) for tool in tools()}
    values["in-process"] = in_process_of(core, "python")
    values["in-process --native"] = in_process_of(core, "native")
    return values


def time_table(cores: list[Core]) -> str:
    rows = [time_row(core.label, core_values(core)) for core in cores]
    if len(cores) > 1:
        per_core = [core_values(core) for core in cores]
        overall = {key: _median_finite([v[key] for v in per_core]) for key in per_core[0]}
        rows.append(time_row("median of the cores", overall))
    return common.table(TIME_HEADERS, rows)


def _median_finite(values: list[float]) -> float:
    finite = [value for value in values if value == value]
    return statistics.median(finite) if finite else float("nan")


def startup_table(cores: list[Core]) -> str:
    """Start-up alone, timed alongside the analyses: ``--help`` of each tool (interpreter
    start-up and imports) and the venv's interpreter doing nothing."""
    names = [tool.name for tool in tools()[ANALYSIS_TOOLS:]]
    per_core = [[median_of(core, name) for name in names] for core in cores]
    if not any(name in core.series for core in cores for name in names):
        return "(not measured)"
    rows = [[core.label] + [_startup_cell(core, name) for name in names] for core in cores]
    if len(cores) > 1:
        overall = [_median_finite(list(column)) for column in zip(*per_core)]
        cells = [common.fmt_seconds(v) if v == v else "—" for v in overall]
        rows.append(["median of the cores", *cells])
    headers = ["interpreter", "triage --help", "pystack --help", "venv python -I -c print()"]
    return common.table(headers, rows)


def _startup_cell(core: Core, name: str) -> str:
    return common.fmt_seconds(median_of(core, name)) if name in core.series else "—"


def rss_table(cores: list[Core]) -> str:
    analysis = tools()[:ANALYSIS_TOOLS]
    headers = ["interpreter", "core MiB"] + [t.name for t in analysis] + ["in-process"]
    rows = []
    for core in cores:
        row = [core.label, f"{core.size_mib:.0f}"]
        row += [common.fmt_mib(rss_of(core, tool.name)) for tool in analysis]
        row.append(common.fmt_mib(core.in_process_rss_mib.get("python", float("nan"))))
        rows.append(row)
    return common.table(headers, rows)


def failures_text(cores: list[Core]) -> str:
    lines = []
    for core in cores:
        for name, series in core.series.items():
            failed = series.failures()
            if failed:
                lines.append(f"{core.label}: {name}: {len(failed)} failed runs, e.g. {failed[0]}")
        lines += [f"{core.label}: {error}" for error in core.errors]
    return "\n".join(lines)


def cpu_table(cores: list[Core]) -> str:
    """CPU time (user + system) of the CLI runs, seconds: lower of the round medians; the
    ratios are less disturbed by other load than wall-time ratios."""
    names = ["triage", "pystack", "triage --native", "triage --native cold", "pystack --native"]

    def cpu(core: Core, name: str) -> float:
        series = core.series.get(name)
        return series.best_median(lambda run: run.cpu) if series else float("nan")

    per_core = [[cpu(core, name) for name in names] for core in cores]
    if len(cores) > 1:
        per_core.append([_median_finite(list(column)) for column in zip(*per_core)])
    labels = [core.label for core in cores] + (["median of the cores"] if len(cores) > 1 else [])
    rows = []
    for label, (t, p, tn, tc, pn) in zip(labels, per_core):
        rows.append(
            [label]
            + [common.fmt_seconds(v) for v in (t, p, tn, tc, pn)]
            + [common.fmt_ratio(common.ratio(a, b)) for a, b in ((t, p), (tn, pn), (tc, pn))]
        )
    headers = ["interpreter", *names, "ours/pystack", "ours/pystack (native)", "(native, cold)"]
    return common.table(headers, rows)


def report(cores: list[Core], large: Core | None) -> str:
    rounds = max((len(s.rounds) for c in cores for s in c.series.values()), default=0)
    parts = [
        f"Wall time, seconds: lower of {rounds} round medians (each over its runs)",
        time_table(cores),
        "",
        "CPU time (user + system), seconds: lower of the round medians",
        cpu_table(cores),
        "",
        "Start-up only, seconds (same rounds)",
        startup_table(cores),
        "",
        "Peak RSS, MiB (largest over all runs)",
        rss_table(cores),
    ]
    if large is not None:
        parts += [
            "",
            f"Large core ({large.size_mib:.0f} MiB): wall time, seconds",
            time_table([large]),
            "",
            "Large core: peak RSS, MiB",
            rss_table([large]),
        ]
    failed = failures_text(cores + ([large] if large else []))
    if failed:
        parts += ["", "Failures:", failed]
    return "\n".join(parts)


def core_json(core: Core) -> dict[str, Any]:
    return {
        "label": core.label,
        "python": str(core.python),
        "core_mib": core.size_mib,
        "tools": {name: series.summary() for name, series in core.series.items()},
        "in_process_round_medians_s": core.in_process,
        "in_process_peak_rss_mib": core.in_process_rss_mib,
        "errors": core.errors,
    }


# --------------------------------------------------------------------------------------------
# Merging the JSON of several invocations (rounds add up; the lowest round median wins)


def core_from_json(data: dict[str, Any]) -> Core:
    core = Core(data["label"], Path(data["python"]), Path(), data["core_mib"])
    for name, summary in data["tools"].items():
        series = core.series.setdefault(name, common.Series())
        for runs in summary["runs"]:
            series.rounds.append([common.Run(**run) for run in runs])
    core.in_process = {k: list(v) for k, v in data["in_process_round_medians_s"].items()}
    core.in_process_rss_mib = dict(data["in_process_peak_rss_mib"])
    core.errors = list(data["errors"])
    return core


def merge_into(cores: dict[str, Core], core: Core) -> None:
    known = cores.setdefault(core.label, core)
    if known is core:
        return
    for name, series in core.series.items():
        known.series.setdefault(name, common.Series()).rounds.extend(series.rounds)
    for key, medians in core.in_process.items():
        known.in_process.setdefault(key, []).extend(medians)
    for key, rss in core.in_process_rss_mib.items():
        known.in_process_rss_mib[key] = max(rss, known.in_process_rss_mib.get(key, 0.0))
    known.errors += core.errors


def merged(paths: list[Path]) -> tuple[list[Core], Core | None]:
    cores: dict[str, Core] = {}
    large: dict[str, Core] = {}
    for path in paths:
        data = json.loads(path.read_text())
        for entry in data["cores"]:
            merge_into(cores, core_from_json(entry))
        if data.get("large"):
            merge_into(large, core_from_json(data["large"]))
    return list(cores.values()), next(iter(large.values()), None)


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one interpreter only")
    parser.add_argument("--python", type=Path, action="append", help="interpreter(s) to use")
    parser.add_argument("--runs", type=int, default=7, help="runs per tool per core per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (lowest median is kept)")
    parser.add_argument("--large-runs", type=int, default=3, help="runs per round, large core")
    parser.add_argument("--no-large", action="store_true", help="skip the 1 GiB core")
    parser.add_argument("--json-out", type=Path, help="write every figure as JSON")
    parser.add_argument("--workdir", type=Path, help="where cores go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the cores")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="measure nothing: print the tables of earlier --json-out files together",
    )
    return parser.parse_args(argv)


def selected_interpreters(args: argparse.Namespace) -> list[Path]:
    if args.python:
        return list(args.python)
    return [common.default_interpreter()] if args.quick else common.interpreters()


def run_benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    cores: list[Core] = []
    large: Core | None = None
    with common.targets() as registry:
        for python in selected_interpreters(args):
            core = make_core(registry, python, workdir)
            if core is not None:
                common.log(f"{core.label}: core of {core.size_mib:.0f} MiB")
                cores.append(core)
        for core in cores:
            bench_core(core, args.runs, args.rounds)
            if not args.keep:
                core.path.unlink()
        if not args.no_large:
            large = make_core(registry, common.default_interpreter(), workdir, big=True)
            if large is not None:
                common.log(f"{large.label}: core of {large.size_mib:.0f} MiB")
                bench_core(large, args.large_runs, args.rounds)
    print(report(cores, large), flush=True)
    return {
        "machine": common.machine(),
        "settings": {"runs": args.runs, "rounds": args.rounds, "large_runs": args.large_runs},
        "cores": [core_json(core) for core in cores],
        "large": core_json(large) if large else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        print(report(*merged(args.merge)), flush=True)
        return 0
    for program in ("gcore", "gdb"):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} is not installed (apt-get install gdb)")
    common.wait_for_triage()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="analyzer-core-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        data = run_benchmark(args, workdir)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    common.write_json(args.json_out, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
