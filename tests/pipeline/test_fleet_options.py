"""What a fleet host is told on the command line: its host name, its database URL from a file,
and the report rendered from the shared database by several hosts at once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from triage.report.lock import render_lock
from triage.store import open_store

from .conftest import PYTHON, rows, run_triage


def test_host_is_the_option_else_the_machine_and_a_sidecar_wins(
    db_url: str, tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    named = shutil.copyfile(cores["abort"][0], tmp_path / "core.named")
    default = shutil.copyfile(cores["abort"][1], tmp_path / "core.default")
    sidecar = shutil.copyfile(cores["segv"][0], tmp_path / "core.sidecar")
    (tmp_path / "core.sidecar.json").write_text(json.dumps({"host": "web-9"}))
    first = run_triage("ingest", str(named), str(sidecar), "--db", db_url, "--host", "db-1",
                       cwd=tmp_path)  # fmt: skip
    second = run_triage("ingest", str(default), "--db", db_url, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    hosts = {Path(str(c["path"])).name: c["host"] for c in rows(db_url)}
    assert hosts == {
        "core.named": "db-1",
        "core.sidecar": "web-9",
        "core.default": socket.gethostname(),
    }
    filtered = run_triage("crashes", "--host", "db-1", "--json", "--db", db_url, cwd=tmp_path)
    assert [c["host"] for c in json.loads(filtered.stdout)] == ["db-1"], filtered.stderr


def test_the_database_url_from_a_file_only_its_owner_may_read(db_url: str, tmp_path: Path) -> None:
    open_store(db_url).close()  # query commands do not create a database
    secret = tmp_path / "db-url"
    secret.write_text(db_url + "\n")
    secret.chmod(0o644)
    refused = run_triage("groups", "--db-file", str(secret), cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]  # after argparse's usage line
    assert "chmod 600" in last and "Traceback" not in refused.stderr, refused.stderr
    secret.chmod(0o600)
    listed = run_triage("groups", "--json", "--db-file", str(secret), cwd=tmp_path)
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
    env = dict(os.environ, TRIAGE_DB_FILE=str(secret))
    env.pop("TRIAGE_DB", None)
    from_env = run_triage("crashes", "--json", cwd=tmp_path, env=env)
    assert from_env.returncode == 0 and json.loads(from_env.stdout) == [], from_env.stderr
    missing = run_triage("groups", "--db-file", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr


def test_a_render_waits_for_the_one_in_progress(
    db_url: str, tmp_path: Path, cores: dict[str, list[Path]]
) -> None:
    core = shutil.copyfile(cores["abort"][0], tmp_path / "core.1")
    ingested = run_triage("ingest", str(core), "--db", db_url, "--no-report", cwd=tmp_path)
    assert ingested.returncode == 0, ingested.stderr
    site = tmp_path / "site"
    with render_lock(site):  # another host rendering into the shared directory
        render = subprocess.Popen(
            [PYTHON, "-m", "triage", "report", "--out", str(site), "--db", db_url],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3.0)
        assert render.poll() is None  # waiting, not writing beside the other
        assert not (site / "index.html").exists()
    _, stderr = render.communicate(timeout=120)
    assert render.returncode == 0, stderr
    assert (site / "index.html").exists()
