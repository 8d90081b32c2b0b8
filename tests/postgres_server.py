"""A private PostgreSQL server on 127.0.0.1 for the tests that need one (Debian's ``postgresql``).

``.ci/run`` starts one the same way and exports its URL in ``TUNE_GAE_TEST_POSTGRES``; without
that variable a test run on a developer's machine starts its own here. PostgreSQL refuses to run
as root: as root the server runs as the ``postgres`` user the Debian package creates.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

URL_ENV = "TUNE_GAE_TEST_POSTGRES"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/<v>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as url:`` a fresh cluster (trust auth, 127.0.0.1 only), removed after."""

    def __init__(self) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (Debian), or set "
                               f"{URL_ENV} to a server's URL.")
        self.bin = bin_dir
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="tune-gae-pg-"))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def __enter__(self) -> str:
        if self.as_user:
            shutil.chown(self.folder, "postgres")
        data = self.folder / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"), "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off", "start")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
