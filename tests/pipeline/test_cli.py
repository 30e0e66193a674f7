"""The pipeline and query commands as a user runs them (subprocesses on a real database)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pty
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import PYTHON, rows, run_triage

GROUP_FIELDS = {
    "id",
    "hash",
    "signature",
    "count",
    "first_seen",
    "last_seen",
    "executables",
    "python_versions",
    "hosts",
}
CRASH_FIELDS = {
    "id",
    "path",
    "sha256",
    "status",
    "error",
    "group",
    "received_at",
    "analyzed_at",
    "executable",
    "python_version",
    "signal",
    "host",
}


class Ingested:
    def __init__(
        self,
        workdir: Path,
        url: str,
        result: subprocess.CompletedProcess[str],
        copy: Callable[[Path], str],
    ) -> None:
        self.workdir = workdir
        self.url = url
        self.db: Path | str = url  # for rows()
        self.result = result
        self.copy = copy  # a copy of the database to change: its URL

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_triage(*args, "--db", self.url, cwd=self.workdir, **kwargs)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ingested(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    cores: dict[str, list[Path]],
    sleep_core: Path,
) -> Ingested:
    workdir = tmp_path_factory.mktemp("cli")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'triage.db'}"

        def copy(directory: Path) -> str:
            return f"sqlite:///{shutil.copyfile(workdir / 'triage.db', directory / 'copy.db')}"

    else:
        cluster = request.getfixturevalue("pg_cluster")
        name, url = cluster.new_database()

        def copy(directory: Path) -> str:
            return str(cluster.copy_database(name))

    inbox = workdir / "inbox"
    inbox.mkdir()
    paths = []
    for bug, found in cores.items():
        for number, core in enumerate(found):
            target = inbox / f"{bug}.{number}"
            shutil.copyfile(core, target)
            sidecar = {"host": f"web-{number % 2 + 1}", "service": "shop", "release": "7"}
            (inbox / f"{bug}.{number}.json").write_text(json.dumps(sidecar))
            paths.append(str(target))
    shutil.copyfile(sleep_core, inbox / "sleep.core")
    (inbox / "junk").write_bytes(b"junk" * 100)
    paths += [str(inbox / "sleep.core"), str(inbox / "junk")]
    result = run_triage("ingest", *paths, "--db", url, cwd=workdir)
    return Ingested(workdir, url, result, copy)


def test_ingest_reports_every_core_and_exits_1_when_some_failed(ingested: Ingested) -> None:
    assert ingested.result.returncode == 1, ingested.result.stderr
    lines = ingested.result.stdout.splitlines()
    assert len(lines) == 10
    # The core of `sleep` has no Python, but its native stack makes it a crash like the others.
    assert sum(" done " in line for line in lines) == 9
    assert any("junk: not a core file" in line for line in lines)
    assert any("sleep.core" in line and " done " in line for line in lines)
    assert "Traceback" not in ingested.result.stderr


def test_ingesting_again_adds_nothing(ingested: Ingested) -> None:
    before = rows(ingested.db)
    result = ingested.run("ingest", str(ingested.workdir / "inbox" / "abort.0"))
    assert result.returncode == 0, result.stderr
    assert len(rows(ingested.db)) == len(before)


def test_groups_table(ingested: Ingested) -> None:
    result = ingested.run("groups")
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[:3] == ["id", "hash", "count"]
    assert len(lines) == 4  # three Python bugs and the `sleep` core
    assert "SIGABRT | app:handle | app:serve | app:<module>" in lines[0]


def test_groups_json_has_the_documented_fields(ingested: Ingested) -> None:
    groups = ingested.json("groups")
    assert [g["count"] for g in groups] == [4, 2, 2, 1]
    assert all(GROUP_FIELDS <= set(g) for g in groups)
    assert groups[0]["hosts"] == ["web-1", "web-2"]
    assert groups[0]["python_versions"] == [".".join(map(str, sys.version_info[:3]))]
    # No Python in `sleep`: its native stack is the signature.
    assert groups[-1]["signature"].startswith("SIGSEGV | clock_nanosleep")


def test_groups_csv(ingested: Ingested) -> None:
    result = ingested.run("groups", "--csv")
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["count"] for row in table] == ["4", "2", "2", "1"]
    assert len(table[0]["hash"]) == 64


@pytest.mark.parametrize(
    ("filters", "counts"),
    [
        (("--host", "web-1"), [2, 1, 1]),
        (("--python", f"{sys.version_info[0]}.{sys.version_info[1]}"), [4, 2, 2]),
        (("--python", "2.7"), []),
        (("--since", "1h"), [4, 2, 2, 1]),
        (("--since", "2999-01-01"), []),
        (("--executable", "sleep"), [1]),
    ],
)
def test_groups_filters(ingested: Ingested, filters: tuple[str, ...], counts: list[int]) -> None:
    assert [g["count"] for g in ingested.json("groups", *filters)] == counts


def test_groups_sort_and_limit(ingested: Ingested) -> None:
    newest = ingested.json("groups", "--sort", "last", "--limit", "1")
    assert len(newest) == 1
    everything = ingested.json("groups", "--sort", "first")
    assert len(everything) == 4


def test_show_by_id_and_by_hash_prefix(ingested: Ingested) -> None:
    first = ingested.json("groups")[0]
    by_id = ingested.run("show", str(first["id"]))
    by_hash = ingested.run("show", first["hash"][:8])
    assert by_id.returncode == 0 and by_id.stdout == by_hash.stdout
    text = by_id.stdout
    assert f"Signature: {first['signature']}" in text
    assert "Hosts:           web-1 (2), web-2 (2)" in text
    assert "in handle" in text and "Latest occurrences:" in text


def test_show_json_and_explain(ingested: Ingested) -> None:
    group = ingested.json("show", "1")
    assert GROUP_FIELDS <= set(group)
    assert len(group["crashes"]) == group["count"] == 4
    assert all(CRASH_FIELDS <= set(crash) for crash in group["crashes"])
    ids = [crash["id"] for crash in group["crashes"]]
    assert group["stack"]["schema"] == 1 and group["stack"]["threads"]
    assert len(ids) == len(set(ids))
    explained = ingested.run("show", "1", "--explain").stdout
    assert (
        "frame python app:handle" in explained
        and "skipped" not in explained.split("Hashed text")[0]
    )


def test_show_unknown_group_fails_in_one_line(ingested: Ingested) -> None:
    result = ingested.run("show", "999999")
    assert result.returncode == 3
    assert result.stderr == "triage: error: no group 999999\n"


def test_crashes_failed_show_their_errors(ingested: Ingested) -> None:
    failed = ingested.json("crashes", "--status", "failed")
    assert {Path(c["path"]).name for c in failed} == {"junk"}
    assert all(c["error"] for c in failed)
    table = ingested.run("crashes", "--status", "failed").stdout
    assert "not a core file" in table
    ok = ingested.json("crashes", "--status", "ok")
    assert len(ok) == 9 and all(CRASH_FIELDS <= set(c) for c in ok)
    in_group = ingested.json("crashes", "--group", "1")
    assert len(in_group) == 4


def test_resign_recomputes_from_stored_stacks(ingested: Ingested, tmp_path: Path) -> None:
    url = ingested.copy(tmp_path)
    before = {g["id"]: g["count"] for g in ingested.json("groups")}
    same = run_triage("resign", "--db", url, cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    assert "recomputed 9 signature(s): 4 group(s)" in same.stdout
    after = json.loads(run_triage("groups", "--db", url, "--json", cwd=tmp_path).stdout)
    assert {g["id"]: g["count"] for g in after} == before  # unchanged rules: same ids
    rules = tmp_path / "coarse.toml"
    rules.write_text('frames = 1\nskip_python = ["app:(handle|serve|flush_cache|shutdown)$"]\n')
    merged = run_triage("resign", "--db", url, "--signature-config", str(rules), cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    coarse = json.loads(run_triage("groups", "--db", url, "--json", cwd=tmp_path).stdout)
    assert [g["count"] for g in coarse] == [6, 2, 1]
    assert coarse[0]["signature"] == "SIGABRT | app:<module>"
    assert {r["rules_version"] for r in rows(url, "SELECT rules_version FROM groups")} != {"1"}


def test_retry_failed_after_a_timeout(
    tmp_path: Path, db_url: str, cores: dict[str, list[Path]]
) -> None:
    core = Path(shutil.copyfile(cores["segv"][0], tmp_path / "core.SLOW"))
    url = db_url
    env = dict(os.environ, TRIAGE_WORKER_FAULT="hang:SLOW")
    first = run_triage("ingest", str(core), "--db", url, "--time-limit", "1", cwd=tmp_path, env=env)
    assert first.returncode == 1 and "timed out after 1 s" in first.stdout
    again = run_triage("ingest", "--retry-failed", "--db", url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    crashes = rows(db_url)
    assert [(c["status"], c["error"]) for c in crashes] == [("done", None)], again.stdout


def test_ingest_shows_a_progress_bar_on_a_terminal(
    tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    paths = [
        str(shutil.copyfile(core, tmp_path / f"c{n}")) for n, core in enumerate(cores["abort"][:3])
    ]
    args = ["ingest", *paths, "--db", f"sqlite:///{tmp_path / 'p.db'}"]
    output = through_a_pty(args, tmp_path, "stderr")
    assert b"analyzing [" in output and b"3/3" in output


def through_a_pty(args: list[str], cwd: Path, stream: str, columns: int | None = None) -> bytes:
    """What `triage ARGS` writes to STREAM ("stdout" or "stderr") when it is a terminal
    (COLUMNS wide when given); the other stream goes nowhere."""
    import fcntl
    import struct
    import termios

    main, secondary = pty.openpty()
    env = dict(os.environ)
    if columns is not None:
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        env["COLUMNS"] = str(columns)
    streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, stream: secondary}
    process = subprocess.Popen(
        [PYTHON, "-m", "triage", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env=env,
        **streams,  # type: ignore[arg-type]
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    os.close(main)
    return output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("ingest",), 2, "give at least one CORE"),
        (("groups", "--db", "sqlite:////nonexistent/dir/x.db"), 3, "/nonexistent/dir/x.db"),
        (("groups", "--since", "soon"), 2, "neither an age"),
        (("ingest", "missing-core", "--db", "sqlite:///x.db"), 3, "missing-core: no such file"),
    ],
)
def test_errors_are_one_line_with_the_documented_exit_code(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    result = run_triage(*args, cwd=tmp_path)
    assert result.returncode == code
    assert message in result.stderr and "Traceback" not in result.stderr


def test_core_start_up_imports_neither_sqlalchemy_nor_watchdog() -> None:
    code = (
        "import sys, triage.cli; triage.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'watchdog', 'alembic', 'subprocess')))"
    )
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_demo(tmp_path: Path) -> None:
    result = run_triage("demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    groups = rows(tmp_path / "demo" / "triage.db", "SELECT * FROM groups ORDER BY id")
    assert len(groups) == 3 and all(g["count"] >= 3 for g in groups), groups
    failed = rows(tmp_path / "demo" / "triage.db", "SELECT * FROM crashes WHERE status='failed'")
    assert failed == []
    assert "callback_abort:priority" in result.stdout and "database:" in result.stdout


def test_demo_gcore_fallback_finds_the_same_frames(tmp_path: Path) -> None:
    """Where core_pattern sends cores elsewhere, the demo parks the program and uses gcore."""
    if shutil.which("gcore") is None:
        pytest.skip("gcore (gdb) is not installed")
    import triage.samples
    from triage.document import from_json
    from triage.samples.cores import _gcore
    from triage.signature import compute

    source = Path(triage.samples.__file__).parent / "programs" / "callback_abort.py"
    program = shutil.copyfile(source, tmp_path / "callback_abort.py")
    core = _gcore([PYTHON, "-E", str(program)], str(tmp_path), None)
    result = run_triage("core", core, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    signature = compute(from_json(json.loads(result.stdout)))
    assert signature.text.split(" | ", 1)[1] == (
        "callback_abort:priority | callback_abort:dispatch | callback_abort:main"
        " | callback_abort:<module>"
    ), signature.notes


def on_a_terminal(ingested: Ingested, columns: int, *args: str) -> list[str]:
    """The output of a query command on a pty COLUMNS wide, as a user sees it."""
    command = [*args, "--db", ingested.url, "--no-color"]
    output = through_a_pty(command, ingested.workdir, "stdout", columns)
    return output.decode().replace("\r\n", "\n").splitlines()


@pytest.mark.parametrize("columns", [80, 200])
def test_tables_fit_the_terminal_and_keep_the_signature(ingested: Ingested, columns: int) -> None:
    groups = ingested.json("groups")
    for command in (["groups"], ["crashes"], ["show", str(groups[0]["id"])]):
        lines = on_a_terminal(ingested, columns, *command)
        assert lines and all(len(line) <= columns for line in lines), (command, columns)
    table = on_a_terminal(ingested, columns, "groups")
    for group, line in zip(groups, table[1:]):
        signature = group["signature"]
        head = signature[:8]  # the signal is always there, and the end of the signature
        assert head in line and (signature in line or "…" in line), line
        assert signature.split(" | ")[-1][-3:] in line or signature in line
    wide = on_a_terminal(ingested, columns, "groups", "--wide")
    assert all(group["signature"] in "\n".join(wide) for group in groups)


@pytest.mark.parametrize(
    "args",
    [
        ("groups", "--since", "1000000d"),
        ("groups", "--since", "1y"),
        ("groups", "--since", "2024-05-01"),
        ("groups", "--since", "2024-05-01T10:00:00Z"),
    ],
)
def test_since_takes_ages_and_dates(ingested: Ingested, args: tuple[str, ...]) -> None:
    result = ingested.run(*args)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("show", "99999999999999999999999999"),
        ("crashes", "--group", "99999999999999999999999"),
        ("groups", "--limit", "99999999999999999999999"),
        ("groups", "--since", "soon"),
        ("remote", "99999999999999999999"),
        ("groups", "--limit", "-3"),
    ],
)
def test_numbers_out_of_range_are_one_line_errors(
    ingested: Ingested, args: tuple[str, ...]
) -> None:
    result = ingested.run(*args) if args[0] != "remote" else run_triage(*args, cwd=ingested.workdir)
    assert result.returncode in (2, 3), result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert "error: " in result.stderr.strip().splitlines()[-1]  # after argparse's usage


def test_every_option_has_help() -> None:
    from triage.cli import build_parser

    parser = build_parser(())
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in subcommands.choices.items()
        for action in sub._actions
        if not action.help and action.dest != "help"
    ]
    assert missing == []


def test_watch_reports_events_as_json_lines_and_duplicates(
    tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    log = tmp_path / "events.jsonl"
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with open(log, "wb") as out:
        watcher = subprocess.Popen(
            [PYTHON, "-m", "triage", "watch", str(spool), "--db", url, "--json", "--no-report",
             "--settle", "0.5", "--rescan", "1", "--workers", "1"],
            cwd=tmp_path, stdout=out, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            shutil.copyfile(cores["abort"][0], spool / "first")
            shutil.copyfile(cores["abort"][0], spool / "again")  # the same content
            deadline = 120
            import time

            start = time.monotonic()
            while time.monotonic() - start < deadline:
                events = [json.loads(line) for line in log.read_text().splitlines() if line]
                kinds = [event["event"] for event in events]
                if "done" in kinds and "duplicate" in kinds:
                    break
                time.sleep(0.2)
        finally:
            watcher.terminate()
            watcher.wait(timeout=30)
    events = [json.loads(line) for line in log.read_text().splitlines() if line]
    assert all("time" in event and "message" in event for event in events)
    done = next(event for event in events if event["event"] == "done")
    duplicate = next(event for event in events if event["event"] == "duplicate")
    assert duplicate["crash"] == done["crash"]


def test_ingest_without_a_terminal_prints_each_result_once(
    tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    core = shutil.copyfile(cores["segv"][0], tmp_path / "one.core")
    result = run_triage("ingest", str(core), "--db", f"sqlite:///{tmp_path / 'i.db'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 and result.stderr == ""
    as_json = run_triage(
        "ingest", str(core), "--json", "--db", f"sqlite:///{tmp_path / 'i.db'}", cwd=tmp_path
    )
    assert json.loads(as_json.stdout)[0]["status"] == "done"


def test_a_missing_database_driver_names_the_extra(tmp_path: Path) -> None:
    result = run_triage("groups", "--db", "mysql+mysqldb://u:p@localhost/x", cwd=tmp_path)
    assert result.returncode == 3
    assert "driver is not installed" in result.stderr and "Traceback" not in result.stderr
