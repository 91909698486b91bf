"""Checkpoints in PostgreSQL (psycopg 3, the ``postgres`` extra), for runs resumed on
another machine than the one that started them.

psycopg is imported when a store is created, never at ``import smolagents``.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from .._optional import require
from ..errors import CheckpointError, UserError
from ._stores import CheckpointStore

__all__ = ["PostgresCheckpointStore"]

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresCheckpointStore(CheckpointStore):
    """Checkpoints in a PostgreSQL table (created if missing), one row per run.

    ``dsn`` is a libpq connection string or URL (``"postgresql://user@host/db"``,
    ``"host=/run/postgresql dbname=agents"``). Every write is one autocommitted upsert, so
    concurrent processes and machines can share the table. One connection per process,
    shared by its threads under a lock; it is reopened after a fork or a lost connection.
    """

    def __init__(self, dsn: str, *, table: str = "smolagents_checkpoints", connect_timeout: int = 10) -> None:
        self._psycopg: Any = require("psycopg", "postgres", "PostgresCheckpointStore")
        if not isinstance(dsn, str) or not dsn:
            raise UserError(f"PostgresCheckpointStore needs a connection string (dsn), got {dsn!r}.")
        if not _TABLE.match(table):
            raise UserError(f"table must be a plain SQL identifier (letters, digits, '_'), got {table!r}.")
        self.dsn = dsn
        self.table = table
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0
        try:
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                "run_id text PRIMARY KEY, data text NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
        except Exception as exc:
            raise CheckpointError(
                f"Cannot use PostgreSQL for checkpoints ({self!r}): {type(exc).__name__}: {exc}. Check the "
                "connection string, that the server is running, and that the user may create the table."
            ) from exc

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            self._conn = self._psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=self.connect_timeout
            )
            self._pid = os.getpid()
        return self._conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run one statement; a connection found broken is reopened and the statement retried once
        (each statement is a whole transaction, so a retry cannot apply it twice)."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    cursor = conn.execute(sql, params)
                    return cursor.fetchall() if cursor.description is not None else cursor.rowcount
                except self._psycopg.OperationalError:
                    if attempt == 2 or not conn.closed:
                        raise
                    self._conn = None
        raise AssertionError("unreachable")

    def write(self, run_id: str, data: str) -> None:
        self._execute(
            f"INSERT INTO {self.table} (run_id, data, updated_at) VALUES (%s, %s, clock_timestamp()) "
            "ON CONFLICT (run_id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at",
            (run_id, data),
        )

    def read(self, run_id: str) -> str | None:
        rows = self._execute(f"SELECT data FROM {self.table} WHERE run_id = %s", (run_id,))
        return None if not rows else str(rows[0][0])

    def list_runs(self) -> list[str]:
        rows = self._execute(f"SELECT run_id FROM {self.table} ORDER BY updated_at DESC, run_id")
        return [str(row[0]) for row in rows]

    def delete(self, run_id: str) -> bool:
        return bool(self._execute(f"DELETE FROM {self.table} WHERE run_id = %s", (run_id,)))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __repr__(self) -> str:
        """The connection target without the password."""
        try:
            info = self._psycopg.conninfo.conninfo_to_dict(self.dsn)
        except Exception:
            return "PostgresCheckpointStore(<unparsable dsn>)"
        shown = " ".join(f"{k}={v}" for k, v in sorted(info.items()) if k not in ("password", "passfile"))
        return f"PostgresCheckpointStore({shown!r})"
