"""A group's life through the CLI: kinds, releases, resolve → regressed, merge and split kept
across resign, retention, failed cores with their reason, and hangs caught at different moments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import PYTHON, rows, run_triage


class Triage:
    """`triage` on one SQLite database, from one working directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "triage.db"

    def __call__(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        result = run_triage(*args, "--db", f"sqlite:///{self.db}", cwd=self.root, timeout=300)
        assert result.returncode in ok, result.stdout + result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))

    def ingest(self, *cores: Path) -> str:
        return self("ingest", *map(str, cores), "--no-report", "--workers", "2", ok=(0, 1))


def with_release(core: Path, target: Path, release: str) -> Path:
    shutil.copyfile(core, target)
    target.with_name(target.name + ".json").write_text(json.dumps({"release": release}))
    return target


def test_resolve_then_a_later_release_regresses(tmp_path: Path, cores: dict[str, Any]) -> None:
    triage = Triage(tmp_path)
    first, second, third, fourth = cores["abort"]
    triage.ingest(
        with_release(first, tmp_path / "a1", "1.9"), with_release(second, tmp_path / "a2", "1.10")
    )
    (group,) = triage.json("groups")
    assert (group["kind"], group["status"]) == ("crash", "new")
    assert (group["first_release"], group["last_release"]) == ("1.9", "1.10")  # as versions
    triage("resolve", str(group["id"]), "--in", "1.11")
    assert triage.json("groups", "--status", "resolved")[0]["id"] == group["id"]
    triage.ingest(with_release(third, tmp_path / "a3", "1.10"))  # an old release still running
    assert triage.json("groups")[0]["status"] == "resolved"
    triage.ingest(with_release(fourth, tmp_path / "a4", "1.11"))  # the release with the fix
    (regressed,) = triage.json("groups", "--status", "regressed")
    assert regressed["id"] == group["id"] and regressed["last_release"] == "1.11"
    assert triage.json("groups", "--status", "new") == []
    kinds = {crash["kind"] for crash in triage.json("crashes")}
    assert kinds == {"crash"}


def test_merge_and_split_survive_resign(tmp_path: Path, cores: dict[str, Any]) -> None:
    triage = Triage(tmp_path)
    triage.ingest(cores["abort"][0], cores["other_abort"][0], cores["other_abort"][1])
    groups = {g["signature"].split(" | ")[1]: g for g in triage.json("groups")}
    kept, merged = groups["app:handle"], groups["app:flush_cache"]
    out = triage("merge", str(kept["id"]), str(merged["id"]))
    assert "2 crash(es) moved" in out
    (only,) = triage.json("groups")
    assert only["id"] == kept["id"] and only["count"] == 3
    assert "0 crash(es) would change group" in triage("resign", "--dry-run")
    triage("resign")
    assert [g["id"] for g in triage.json("groups")] == [kept["id"]]  # the rule held
    triage.ingest(cores["segv"][0])
    out = triage("split", str(kept["id"]))
    assert "split group" in out
    counts = sorted(g["count"] for g in triage.json("groups"))
    assert counts == [1, 1, 2]
    triage("resign")
    assert sorted(g["count"] for g in triage.json("groups")) == [1, 1, 2]


def test_truncated_core_fails_with_its_reason_and_metadata(
    tmp_path: Path, cores: dict[str, Any]
) -> None:
    source = cores["abort"][0]
    cut = tmp_path / "cut.core"
    with open(source, "rb") as whole, open(cut, "wb") as part:
        part.write(whole.read(os.path.getsize(source) // 3))
    triage = Triage(tmp_path)
    triage.ingest(cut, cores["abort"][1])
    crashes = {Path(c["path"]).name: c for c in triage.json("crashes")}
    failed = crashes["cut.core"]
    assert failed["status"] == "failed" and failed["group"] is None
    assert failed["error"].startswith("core truncated: ") and " MB; " in failed["error"]
    assert failed["signal"] == "SIGABRT" and failed["pid"]
    assert triage.json("crashes", "--status", "failed")[0]["id"] == failed["id"]
    assert [g["count"] for g in triage.json("groups")] == [1]  # not grouped with the real one


HUNG = """\
import sys, threading, time

def crunch(n):
    return sum(i * i for i in range(n))

def spin():
    while True:
        crunch(10000)

def wait_for_reply(event):
    event.wait()

def main():
    for _ in range(2):
        threading.Thread(target=spin, daemon=True).start()
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    wait_for_reply(threading.Event())

main()
"""


def test_snapshots_of_one_hang_are_one_group(tmp_path: Path) -> None:
    if shutil.which("gcore") is None:
        pytest.skip("gcore (gdb) is not installed")
    program = tmp_path / "rpc.py"
    program.write_text(HUNG)
    spool = tmp_path / "spool"
    spool.mkdir()
    process = subprocess.Popen([PYTHON, "-u", str(program)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        snapshots = []
        for index in range(2):
            time.sleep(0.3)  # another moment: the spinning threads are elsewhere
            prefix = tmp_path / f"snap{index}"
            subprocess.run(["gcore", "-o", str(prefix), str(process.pid)], check=True,
                           capture_output=True, timeout=180)  # fmt: skip
            snapshots.append(prefix.with_name(f"{prefix.name}.{process.pid}"))
        saved = run_triage("remote", str(process.pid), "--save", str(spool), cwd=tmp_path)
        assert saved.returncode == 0, saved.stderr
        assert "wait_for_reply" in saved.stdout
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    (snapshot,) = spool.glob("*.snapshot")
    triage = Triage(tmp_path)
    triage.ingest(*snapshots, snapshot)
    (group,) = triage.json("groups")
    assert group["kind"] == "hang" and group["count"] == 3
    assert group["signature"].startswith("hang | rpc:wait_for_reply | rpc:main"), group
    assert {c["kind"] for c in triage.json("crashes")} == {"hang"}


def test_retention_keeps_the_newest_and_the_first_of_each_release(
    tmp_path: Path, cores: dict[str, Any]
) -> None:
    triage = Triage(tmp_path)
    copies = [
        with_release(core, tmp_path / f"c{index}", release)
        for index, (core, release) in enumerate(zip(cores["abort"], ("1", "1", "2", "2")))
    ]
    triage.ingest(*copies)
    dry = triage("retention", "--keep", "1", "--dry-run")
    assert "would delete 1 core(s)" in dry and all(path.exists() for path in copies)
    triage("retention", "--keep", "1")
    gone = [path for path in copies if not path.exists()]
    assert len(gone) == 1
    deleted = [c for c in triage.json("crashes") if c["core_deleted_at"]]
    assert [Path(c["path"]).name for c in deleted] == [gone[0].name]
    assert deleted[0]["status"] == "done"  # the analysis stays


def test_read_commands_refuse_a_database_that_does_not_exist(tmp_path: Path) -> None:
    for command in (["groups"], ["crashes"], ["show", "1"], ["report", "--out", "site"]):
        result = run_triage(*command, "--db", f"sqlite:///{tmp_path / 'typo.db'}", cwd=tmp_path)
        assert result.returncode == 3, command
        assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr
    assert not (tmp_path / "typo.db").exists()
    assert rows(tmp_path / "typo.db") == []
