"""Checkpoint stores for the tests, PostgreSQL included: a real server started here from
Debian's package (``apt-get install postgresql``; ``.ci/run`` installs it), on a Unix
socket in a temporary directory, as a non-root user when the tests run as root. Where it
cannot start, the PostgreSQL cases are skipped with the reason (``-ra`` prints it)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smolagents.checkpoints import (
    CheckpointStore,
    DirectoryCheckpointStore,
    PostgresCheckpointStore,
    SQLiteCheckpointStore,
)


class PostgresServer:
    """A throwaway PostgreSQL cluster: initdb + pg_ctl on a temporary directory."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            raise RuntimeError(
                "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)"
            )
        self.bin = Path(binaries[-1]).parent
        self.user: str | None = None
        if os.geteuid() == 0:  # initdb refuses to run as root: use the package's own user
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root and there is no 'postgres' user to run the server as"
                ) from None
            if shutil.which("runuser") is None:
                raise RuntimeError("running as root and runuser is missing (needed to start the server)")
            self.user = "postgres"
        self.root = Path(tempfile.mkdtemp(prefix="smolagents-pg-"))
        os.chmod(self.root, 0o755)
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self.data = self.root / "data"
        self.port = 5432 + (os.getpid() % 2000) + 1000
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "smol", "--no-sync")
        options = f"-k {self.root} -c listen_addresses='' -p {self.port} -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        self.dsn = f"host={self.root} port={self.port} user=smol dbname=postgres"

    def _run(self, *command: str) -> None:
        if self.user is not None:
            command = ("runuser", "-u", self.user, "--", *command)
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text()[-1500:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed: {done.stdout[-1500:]} {done.stderr[-1500:]} {tail}"
            )

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL server started for this session, or a loud skip saying why not."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip(
            "PostgreSQL checkpoint tests skipped: psycopg is not installed (pip install 'smolagents[postgres]')"
        )
    try:
        server = PostgresServer()
    except Exception as exc:
        pytest.skip(f"PostgreSQL checkpoint tests skipped: the test server could not start: {exc}")
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], CheckpointStore]]:
    """``make_store(kind)``: a fresh, empty store of that kind (a new table for PostgreSQL)."""
    opened: list[CheckpointStore] = []
    counter = iter(range(1000))

    def make(kind: str) -> CheckpointStore:
        n = next(counter)
        store: CheckpointStore
        if kind == "sqlite":
            store = SQLiteCheckpointStore(tmp_path / f"runs{n}.db")
        elif kind == "directory":
            store = DirectoryCheckpointStore(tmp_path / f"runs{n}")
        else:
            dsn = request.getfixturevalue("postgres_dsn")
            table = f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}_{n}"
            store = PostgresCheckpointStore(dsn, table=table)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
