"""The watcher as a container's entrypoint: PID 1 of its own pid namespace."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Watcher, ci, settled, wait_until
from .test_watch import distinct_copy

AS_PID_1 = ("unshare", "--pid", "--fork", "--mount-proc")


def test_a_watcher_that_is_pid_1_analyzes_its_cores(
    tmp_path: Path, watcher: Callable[..., Watcher], cores: dict[str, list[Path]]
) -> None:
    probe = subprocess.run([*AS_PID_1, "true"], capture_output=True, text=True)
    if probe.returncode != 0:  # no user or pid namespaces here (not root, or forbidden)
        if ci():
            pytest.fail(f"cannot make a pid namespace: {probe.stderr.strip()}")
        pytest.skip(f"cannot make a pid namespace: {probe.stderr.strip()}")
    spool = tmp_path / "spool"
    spool.mkdir()
    for number, core in enumerate(cores["abort"][:2] + cores["segv"][:1]):
        distinct_copy(core, spool / f"core.{number}", f"pid1#{number}")
    watch = watcher(spool, "--no-report", prefix=AS_PID_1)
    assert watch.process is not None
    children = Path(f"/proc/{watch.process.pid}/task/{watch.process.pid}/children")
    (inner,) = [int(pid) for pid in children.read_text().split()]
    status = Path(f"/proc/{inner}/status").read_text()
    assert status.split("NSpid:")[1].split("\n")[0].split()[-1] == "1"  # really PID 1
    crashes = wait_until(lambda: settled(watch.db, 3), 60, "3 crashes")
    assert [c["status"] for c in crashes] == ["done"] * 3, [c["error"] for c in crashes]
    os.kill(inner, signal.SIGTERM)  # unshare waits for it and exits with its status
    assert watch.process.wait(timeout=30) == 0, watch.text()
