"""A private PostgreSQL cluster (Debian's packages) for tests and benchmarks.

initdb into a fresh data directory, listen on loopback at a private port (unix socket inside the
data directory too), trust auth for the local user; ``stop()`` removes the whole directory.
As root, the server runs as the ``postgres`` system user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from dataledger.dev.anvil import free_port


class PostgresError(RuntimeError):
    """PostgreSQL is not installed or the cluster did not start."""


def pg_bindir() -> Path:
    from dataledger.dev.settings import DevSettings

    explicit = DevSettings().PG_BINDIR
    if explicit:
        return Path(explicit)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresError("PostgreSQL server binaries not found: `make setup` installs Debian's postgresql")


class PostgresCluster:
    def __init__(self, port: Optional[int] = None, database: str = "dataledger") -> None:
        self.port = port or free_port()
        self.database = database
        self.bindir = pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="dataledger-pg-"))
        self.datadir = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = list(cmd)
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise PostgresError(f"{' '.join(cmd[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
            os.chmod(self.root, 0o700)
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.user,
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off " \
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")
        self.started = True
        deadline = time.monotonic() + 30
        while True:
            try:
                self._run(str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                          "-U", self.user, self.database)
                break
            except PostgresError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.started:
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
            except PostgresError:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
