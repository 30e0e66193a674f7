"""Secrets in a crashing program's locals never reach the database, the site or any output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.samples.cores import make_core
from triage.scrub import ScrubRules, scrub_text

from .conftest import PYTHON, run_triage

# Each value appears nowhere but in this program's memory.
PASSWORD = "hunter2-4f9c1e"
TOKEN = "tok-8d2b7a51c3e94f06"
BEARER = "Bearer zx81.spectrum.c64"
DB_PASSWORD = "pg-s3cr3t-77aa"
PLANTED = (PASSWORD, TOKEN, BEARER.split()[1], DB_PASSWORD)

PROGRAM = f"""\
import os


def connect(user, password):
    api_token = {TOKEN!r}
    headers = {{"Authorization": {BEARER!r}, "Accept": "application/json"}}
    database_url = "postgresql://app:{DB_PASSWORD}@db.internal/orders"
    retries = 3
    os.abort()


connect("alice", {PASSWORD!r})
"""


@pytest.fixture(scope="module")
def secret_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("secrets")
    script = workdir / "login.py"
    script.write_text(PROGRAM)
    return Path(make_core([PYTHON, "-E", str(script)], str(workdir)))


def everything_under(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


def test_nothing_planted_is_stored_shown_or_published(secret_core: Path, tmp_path: Path) -> None:
    db = tmp_path / "triage.db"
    url = f"sqlite:///{db}"
    site = tmp_path / "site"
    ingest = run_triage("ingest", str(secret_core), "--db", url, "--reports", str(site),
                        cwd=tmp_path, timeout=300)  # fmt: skip
    assert ingest.returncode == 0, ingest.stderr
    outputs = [
        run_triage(*args, "--db", url, cwd=tmp_path).stdout
        for args in (["show", "1", "--json"], ["crashes", "--json"], ["groups", "--json"])
    ]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("triage.db*"))  # with the WAL
    published = everything_under(site)
    shown = "".join(outputs).encode()
    for secret in PLANTED:
        for where, data in (("database", raw), ("site", published), ("--json", shown)):
            assert secret.encode() not in data, (secret, where)
    stack = json.loads(outputs[0])["stack"]
    frame = next(f for t in stack["threads"] for f in t["frames"] if f["function"] == "connect")
    assert frame["locals"]["user"] == "'alice'" and frame["locals"]["retries"] == "3"
    assert frame["locals"]["password"] == "[redacted]"
    assert frame["locals"]["api_token"] == "[redacted]"
    assert "'Accept': 'application/json'" in frame["locals"]["headers"]
    assert "postgresql://app:[redacted]@db.internal/orders" in frame["locals"]["database_url"]
    page = (site / "crashes" / "1.html").read_text()
    assert "api_token" in page and "alice" in page


def test_core_command_scrubs_unless_told_not_to(secret_core: Path, tmp_path: Path) -> None:
    scrubbed = run_triage("core", str(secret_core), "--locals", "--json", cwd=tmp_path)
    assert scrubbed.returncode == 0, scrubbed.stderr
    assert not any(secret in scrubbed.stdout for secret in PLANTED)
    shown = run_triage("core", str(secret_core), "--locals", "--no-scrub", cwd=tmp_path)
    assert PASSWORD in shown.stdout and TOKEN in shown.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{'Authorization': 'Bearer abc.def'}", "{'Authorization': '[redacted]'}"),
        ("'redis://:pw@cache:6379/0'", "'redis://:[redacted]@cache:6379/0'"),
        ("app --password hunter2 --port 80", "app --password [redacted] --port 80"),
        ("{'author': 'me', 'session_id': 5}", "{'author': 'me', 'session_id': [redacted]}"),
        ("'AKIAIOSFODNN7EXAMPLE'", "'[redacted]'"),
        ("'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln'", "'[redacted]'"),
        ("{'path': '/srv/app', 'count': 3}", "{'path': '/srv/app', 'count': 3}"),
    ],
)
def test_scrub_text(text: str, expected: str) -> None:
    assert scrub_text(text, ScrubRules()) == expected


def test_scrubbing_can_be_turned_off(tmp_path: Path) -> None:
    from triage.signature.config import load_config

    path = tmp_path / "rules.toml"
    path.write_text("[scrub]\nenabled = false\n")
    assert load_config(path).scrub.enabled is False
    path.write_text('[scrub]\nnames = ["pin"]\n')
    assert load_config(path).scrub.sensitive("card_pin")
