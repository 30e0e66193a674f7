"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, a unix socket.

Root cannot run the server, so as root the cluster belongs to the ``postgres`` user (``runuser``);
any other user runs it as itself. Trust authentication on a socket nobody else knows of: the
tests connect as the cluster's superuser to make a role and a database per test.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "postgres"
PORT = 5432  # only names the socket file: the server listens on no TCP address
_names = itertools.count(1)


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl are: $TRIAGE_TEST_PG_BINDIR, Debian's newest, else the PATH."""
    configured = os.environ.get("TRIAGE_TEST_PG_BINDIR")
    if configured:
        return Path(configured)
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if debian:
        return Path(debian[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class Cluster:
    """One server for the test session; ``restart`` and ``stop`` are for the tests too."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="triage-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.owner: str | None = None
        if os.geteuid() == 0:
            self.owner = SUPERUSER
            entry = pwd.getpwnam(SUPERUSER)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        os.chmod(self.base, 0o755)  # the tests connect to the socket in it

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", self.owner, "--"] if self.owner else []
        result = subprocess.run(
            [*prefix, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)}: {result.stderr.strip()}\n{log}")

    def init(self) -> Cluster:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.start()
        return self

    def start(self) -> None:
        # fsync off: a test cluster never needs to survive a power loss, and it is much faster.
        options = (
            f"-k {self.base} -c listen_addresses='' -p {PORT} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def restart(self) -> None:
        """Stop (closing every connection) and start again, as an administrator would."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "restart"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql+psycopg://{user}@/{database}?host={self.base}&port={PORT}"

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(
            host=str(self.base), port=PORT, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    def new_database(self) -> tuple[str, str]:
        """A fresh role and a database it owns: (name, URL as that role)."""
        name = f"t{os.getpid()}_{next(_names)}"
        self._admin(f"CREATE ROLE {name} LOGIN", f"CREATE DATABASE {name} OWNER {name}")
        return name, self.url(name, name)

    def copy_database(self, name: str) -> str:
        """A copy of database NAME (no one may be connected to it), owned by its role: URL."""
        copy = f"{name}_copy{next(_names)}"
        self._admin(f"CREATE DATABASE {copy} TEMPLATE {name} OWNER {name}")
        return self.url(copy, name)

    def drop_database(self, name: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"DROP ROLE IF EXISTS {name}")
