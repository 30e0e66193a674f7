"""Live processes: how long ``triage remote`` and ``pystack remote`` stop the target, one run.

The target has 10 threads: one spins on ``perf_counter()`` and keeps the longest gap it saw
between two consecutive readings, eight sleep in nested calls, and the main thread serves
commands on stdin (``reset``: forget the longest gap; ``get``: report it). Every tool runs K
times per round, the tools taking turns; before each run the gap is reset, after it the
longest gap is read. Right after each run, the same is done for a window of the same length
with no tool attached: that paired baseline is the noise (preemption, hypervisor steal) a run
of that length sees anyway, and a run's stall is its gap minus its baseline's gap. The spinner
also reads its own run-queue wait (/proc/thread-self/schedstat) so that the time it was merely
preempted by other processes can be taken out ("excl. run-queue"). Medians are the lower of
the round medians (the machine may be busy with other work); maxima are over every run.
``triage remote`` runs with ``--json`` so that the stop time the extension measured itself
(``source.stopped_seconds``) can be printed next to the stall.

    .venv/bin/python benchmarks/analyzer_remote.py [--runs 10] [--rounds 2]
        [--python PATH] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any, Callable, Optional

import analyzer_common as common

TARGET = """\
import os, sys, threading, time

clock = getattr(time, "perf_counter", time.time)

class State:
    max_gap = 0.0  # longest gap between two readings of the clock
    max_held = 0.0  # the same, less the time the thread waited on a run queue
    reset_at = 0.0

def open_schedstat():
    try:
        return os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return -1

def run_queue_wait(fd):
    \"\"\"Seconds this thread spent runnable but not running (preempted), from the kernel.\"\"\"
    if fd < 0:
        return 0.0
    os.lseek(fd, 0, 0)
    return int(os.read(fd, 128).split()[1]) / 1e9

def spin():
    schedstat = open_schedstat()  # thread-self: opened by the spinner itself
    last, last_wait = clock(), run_queue_wait(schedstat)
    while True:
        now, wait = clock(), run_queue_wait(schedstat)
        if last >= State.reset_at:  # gaps that began before the reset are not counted
            gap = now - last
            if gap > State.max_gap:
                State.max_gap = gap
            if gap - (wait - last_wait) > State.max_held:
                State.max_held = gap - (wait - last_wait)
        last, last_wait = now, wait

def sleep_leaf():
    while True:
        time.sleep(3600)

def sleep_middle():
    sleep_leaf()

def sleep_top():
    sleep_middle()

def reply(text):
    sys.stdout.write(text + "\\n")
    sys.stdout.flush()

def serve_one(line):
    if line == "reset":
        State.reset_at = clock()
        State.max_gap = State.max_held = 0.0
        reply("ok")
    elif line == "get":
        reply("%r %r" % (State.max_gap, State.max_held))

def serve():
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        serve_one(line.strip())

def main():
    for target in [sleep_top] * 8 + [spin]:
        thread = threading.Thread(target=target)
        thread.daemon = True
        thread.start()
    reply("ready")
    serve()

main()
"""
THREADS = 10
SLEEPERS = 9  # 8 sleepers and the main thread blocked on stdin


@dataclass(frozen=True)
class Tool:
    name: str
    argv: tuple[str, ...]  # PID is a placeholder
    json: bool = False


def tools() -> list[Tool]:
    triage, pystack = common.tool_path("triage"), common.tool_path("pystack")
    return [
        Tool("triage remote", (triage, "remote", "--json", "PID"), json=True),
        Tool("triage remote --native", (triage, "remote", "--native", "--json", "PID"), True),
        Tool("triage remote --no-block", (triage, "remote", "--no-block", "--json", "PID"), True),
        Tool("pystack remote", (pystack, "remote", "PID")),
        Tool("pystack remote --native", (pystack, "remote", "--native", "PID")),
        Tool("pystack remote --no-block", (pystack, "remote", "--no-block", "PID")),
    ]


@dataclass
class Sample:
    run: common.Run
    gap: float  # longest gap seen by the spinner during the run, seconds
    held: float  # the same, less the spinner's run-queue wait (preemption by other processes)
    base_gap: float  # longest gap in a window as long as the run, right after it, no tool
    base_held: float
    stopped: float | None  # source.stopped_seconds of triage --json


@dataclass
class Results:
    samples: dict[str, list[list[Sample]]] = field(default_factory=dict)  # tool -> rounds

    def add(self, tool: str, round_index: int, sample: Sample) -> None:
        rounds = self.samples.setdefault(tool, [])
        while len(rounds) <= round_index:
            rounds.append([])
        rounds[round_index].append(sample)


# --------------------------------------------------------------------------------------------
# The target


class Target:
    """The spinning target and its command channel."""

    def __init__(self, registry: common.Targets, python: Path, workdir: Path) -> None:
        script = workdir / "bench_remote_target.py"
        script.write_text(TARGET)
        self.process: Popen[bytes] = registry.start([str(python), str(script)], workdir, stdin=True)
        if common.read_line(self.process, timeout=120) != "ready":
            raise RuntimeError("target did not say ready")
        common.wait_sleeping(self.process.pid, THREADS, SLEEPERS)

    @property
    def pid(self) -> int:
        return self.process.pid

    def ask(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()
        return common.read_line(self.process, timeout=60)

    def reset(self) -> None:
        if self.ask("reset") != "ok":
            raise RuntimeError("target did not acknowledge reset")

    def max_gaps(self) -> tuple[float, float]:
        """The longest gap since the reset, and the longest once run-queue wait is removed."""
        gap, held = self.ask("get").split()
        return float(gap), float(held)


# --------------------------------------------------------------------------------------------
# Measuring


def run_tool(tool: Tool, target: Target) -> Sample:
    """One run of TOOL against the target, then a window of the same length without a tool."""
    gaps = (0.0, 0.0)

    def attempt() -> common.Run:
        nonlocal gaps
        target.reset()
        argv = [str(target.pid) if arg == "PID" else arg for arg in tool.argv]
        run = common.measure(argv, timeout=120, check=_checker(tool))
        gaps = target.max_gaps()
        return run

    run = common.retrying(attempt)
    target.reset()
    time.sleep(run.wall if run.wall == run.wall else 0.5)
    base = target.max_gaps()
    stopped = _stopped_seconds(run) if tool.json else None
    return Sample(run, gaps[0], gaps[1], base[0], base[1], stopped)


def _checker(tool: Tool) -> common.Check:
    if tool.json:
        return lambda out: len(_json(out).get("threads", [])) == THREADS
    return lambda out: b"sleep_leaf" in out and b"spin" in out


def _json(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _stopped_seconds(run: common.Run) -> float | None:
    value = _json(run.stdout).get("source", {}).get("stopped_seconds")
    return float(value) if isinstance(value, (int, float)) else None


def bench(target: Target, runs: int, rounds: int) -> Results:
    results = Results()
    tool_list = tools()
    for round_index in range(rounds):
        for run_index in range(runs):
            for tool in common.rotated(tool_list, run_index):
                results.add(tool.name, round_index, run_tool(tool, target))
        common.log(f"round {round_index + 1}/{rounds} done")
    return results


# --------------------------------------------------------------------------------------------
# Reporting


Value = Callable[[Sample], Optional[float]]


def _lower_median(rounds: list[list[Sample]], value: Value) -> float:
    """The lower of the per-round medians of VALUE (None values skipped)."""
    medians = []
    for samples in rounds:
        values = [v for v in map(value, samples) if v is not None]
        medians.append(statistics.median(values) if values else float("nan"))
    return common.lower(medians)


def _max(rounds: list[list[Sample]], value: Value) -> float:
    values = [v for samples in rounds for v in map(value, samples) if v is not None]
    return max(values) if values else float("nan")


def tool_figures(rounds: list[list[Sample]]) -> dict[str, Any]:
    """One tool's figures: the lower of the round medians, and the max over all runs."""
    good = [[s for s in samples if s.run.ok] for samples in rounds]
    values: dict[str, Value] = {
        "stall": lambda s: s.gap - s.base_gap,
        "held_stall": lambda s: s.held - s.base_held,
        "gap": lambda s: s.gap,
        "base_gap": lambda s: s.base_gap,
        "stopped": lambda s: s.stopped,
        "wall": lambda s: s.run.wall,
    }
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[f"{key}_median_s"] = _lower_median(good, value)
        out[f"{key}_max_s"] = _max(good, value)
    out["peak_rss_mib"] = _max(good, lambda s: s.run.maxrss_kib / 1024)
    out["ok_runs"] = sum(len(samples) for samples in good)
    out["failures"] = [s.run.error for samples in rounds for s in samples if not s.run.ok]
    return out


def figures(results: Results) -> dict[str, dict[str, Any]]:
    return {name: tool_figures(rounds) for name, rounds in results.samples.items()}


HEADERS = [
    "tool",
    "stall median ms",
    "stall max ms",
    "excl. run-queue: median ms",
    "excl. run-queue: max ms",
    "stopped_seconds median ms",
    "stopped_seconds max ms",
    "gap median ms",
    "baseline gap median ms",
    "wall s",
    "RSS MiB",
    "failed",
]


def row(tool: Tool, f: dict[str, Any]) -> list[str]:
    def ms(key: str) -> str:
        return common.fmt_ms(f[key] * 1000)

    return [
        tool.name,
        ms("stall_median_s"),
        ms("stall_max_s"),
        ms("held_stall_median_s"),
        ms("held_stall_max_s"),
        ms("stopped_median_s"),
        ms("stopped_max_s"),
        ms("gap_median_s"),
        ms("base_gap_median_s"),
        common.fmt_seconds(f["wall_median_s"]),
        common.fmt_mib(f["peak_rss_mib"]),
        str(len(f["failures"])),
    ]


def report(results: Results, label: str, runs: int) -> str:
    data = figures(results)
    rounds = max((len(r) for r in results.samples.values()), default=0)
    rows = [row(tool, data[tool.name]) for tool in tools() if tool.name in data]
    title = (
        f"Target: {label}, {THREADS} threads. Stall = the spinner's longest gap during the run "
        "minus the longest gap in an equally long window with no tool, right after it. "
        f"Medians: lower of {rounds} round medians of {runs} runs; max: over all runs."
    )
    failures = [
        f"{name}: {len(f['failures'])} failed runs, e.g. {f['failures'][0]}"
        for name, f in data.items()
        if f["failures"]
    ]
    return "\n".join([title, common.table(HEADERS, rows), *failures])


# --------------------------------------------------------------------------------------------
# JSON, and merging several invocations (rounds add up; the lowest round median wins)


def sample_json(sample: Sample) -> dict[str, Any]:
    run = sample.run
    return {
        "gap": sample.gap,
        "held": sample.held,
        "base_gap": sample.base_gap,
        "base_held": sample.base_held,
        "stopped": sample.stopped,
        "run": {"wall": run.wall, "maxrss_kib": run.maxrss_kib, "ok": run.ok, "error": run.error},
    }


def sample_from_json(data: dict[str, Any]) -> Sample:
    run = common.Run(**data["run"])
    keys = ("gap", "held", "base_gap", "base_held", "stopped")
    return Sample(run, *(data[key] for key in keys))


def merged(paths: list[Path]) -> tuple[Results, str, int]:
    """The samples of earlier --json-out files, their target label and runs per round."""
    results = Results()
    labels, runs = [], 0
    for path in paths:
        data = json.loads(path.read_text())
        labels.append(data["target"]["label"])
        runs = data["settings"]["runs"]
        for name, rounds in data["samples"].items():
            for samples in rounds:
                index = len(results.samples.get(name, []))
                for sample in samples:
                    results.add(name, index, sample_from_json(sample))
    return results, " + ".join(sorted(set(labels))), runs


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", type=Path, help="the target's interpreter")
    parser.add_argument("--runs", type=int, default=10, help="runs per tool per round (K)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (lowest median is kept)")
    parser.add_argument("--json-out", type=Path, help="write every figure as JSON")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="measure nothing: print the table of earlier --json-out files together",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        print(report(*merged(args.merge)), flush=True)
        return 0
    common.wait_for_triage()
    python = args.python or common.default_interpreter()
    label = common.interpreter_label(python)
    with tempfile.TemporaryDirectory(prefix="analyzer-remote-") as tmp:
        with common.targets() as registry:
            target = Target(registry, python, Path(tmp))
            results = bench(target, args.runs, args.rounds)
    print(report(results, label, args.runs), flush=True)
    common.write_json(
        args.json_out,
        {
            "machine": common.machine(),
            "settings": {"runs": args.runs, "rounds": args.rounds},
            "target": {"python": str(python), "label": label, "threads": THREADS},
            "tools": figures(results),
            "samples": {
                name: [[sample_json(s) for s in samples] for samples in rounds]
                for name, rounds in results.samples.items()
            },
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
