"""A real PostgreSQL server for tests: initdb in a temp folder, started on a free loopback port.

PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the `postgres` user
and its commands run through `runuser`. Each test gets its own database (`new_database`).
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

from sqlalchemy import create_engine, text

from tests.api.smtp_server import free_port


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server programs are not installed (scripts/debian-packages.txt has them)."""


def server_bin() -> Path:
    """Return the folder holding initdb and pg_ctl."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise PostgresUnavailable("initdb not found: install the `postgresql` Debian package")
    return Path(candidates[-1]).parent


class PostgresServer:
    """One throwaway cluster."""

    def __init__(self) -> None:
        self.bin = server_bin()
        self.base = Path(tempfile.mkdtemp(prefix="mykey-api-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self._names = itertools.count(1)
        if self._as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.base, owner.pw_uid, owner.pw_gid)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        )
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -F"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "server.log"),
            "-w",
            "start",
        )
        return self

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        name = f"mykey_test_{next(self._names)}"
        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
