"""Checkpoint stores: where durable runs keep one JSON document per run id.

A store is deliberately dumb (``write``/``read``/``list_runs``/``delete`` of text): the
document's format and its checks live in one place (``_format.py``), so every store
refuses a corrupt or newer checkpoint the same way, and a store of your own (Redis, S3...)
is four small methods. ``save``/``load`` add the format checks and turn a backend failure
into a :class:`CheckpointError` naming the run, the store and what to do.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, CheckpointNotFoundError, UserError
from ._format import check_record, decode_record, encode_record

__all__ = ["CheckpointStore", "DirectoryCheckpointStore", "SQLiteCheckpointStore", "check_run_id"]

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_run_id(run_id: Any) -> str:
    """``run_id`` if it can name a checkpoint in every store (it becomes a file name in a
    :class:`DirectoryCheckpointStore`), else a UserError saying what is allowed."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise UserError(
            f"run_id must be 1 to 128 characters among letters, digits, '_', '.' and '-', starting with a "
            f"letter or digit; got {run_id!r}. Leave it out to get a generated one (RunResult.run_id)."
        )
    return run_id


class CheckpointStore(ABC):
    """Where checkpoints live: a mapping from run id to one JSON document (text).

    Implement ``write``, ``read``, ``list_runs`` and ``delete``; ``save`` and ``load`` (used
    by agents) check the document's format around them. Stores must be safe to use from
    several threads; the ones shipped here are also safe across processes.
    """

    @abstractmethod
    def write(self, run_id: str, data: str) -> None:
        """Replace the document of ``run_id`` with ``data`` atomically (all or nothing)."""

    @abstractmethod
    def read(self, run_id: str) -> str | None:
        """The document of ``run_id``, or None when there is none."""

    @abstractmethod
    def list_runs(self) -> list[str]:
        """Ids of the runs with a checkpoint, most recently saved first."""

    @abstractmethod
    def delete(self, run_id: str) -> bool:
        """Forget the checkpoint of ``run_id``; True if there was one."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections; nothing to do by default."""

    def __enter__(self) -> CheckpointStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ checked access
    def save(self, run_id: str, record: Mapping[str, Any]) -> None:
        """Store a checkpoint document (a dict in the checkpoint format, e.g. one returned by
        :meth:`load` and changed); the format is checked first."""
        check_run_id(run_id)
        checked = check_record(dict(record), run_id, self)
        try:
            text = encode_record(checked)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"The checkpoint of run {run_id!r} cannot be written to {self!r}: it holds a value JSON "
                f"cannot store ({exc}). Keep only JSON data (str, numbers, bools, None, lists, dicts) in it."
            ) from None
        self.save_text(run_id, text)

    def save_text(self, run_id: str, text: str) -> None:
        """Store an already encoded document (agents encode incrementally); backend failures
        become a CheckpointError."""
        try:
            self.write(run_id, text)
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"Could not save the checkpoint of run {run_id!r} to {self!r}: {type(exc).__name__}: {exc}. "
                "Check that the store is reachable and writable (disk space, permissions, database "
                "server); the run's memory is intact and the run can be resumed from its last checkpoint."
            ) from exc

    def load(self, run_id: str) -> dict[str, Any]:
        """The checked checkpoint of ``run_id``: a CheckpointNotFoundError when there is none,
        a CheckpointError when it is corrupt or written by a newer release."""
        if not isinstance(run_id, str):
            raise UserError(f"run_id must be a string, got {type(run_id).__name__}.")
        try:
            text = self.read(run_id)
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"Could not read the checkpoint of run {run_id!r} from {self!r}: {type(exc).__name__}: {exc}. "
                "Check that the store is reachable and readable."
            ) from exc
        if text is None:
            raise CheckpointNotFoundError(self._not_found(run_id))
        return decode_record(text, run_id, self)

    def exists(self, run_id: str) -> bool:
        """Whether the store holds a checkpoint (of any content) for ``run_id``."""
        return self.read(run_id) is not None

    def _not_found(self, run_id: str) -> str:
        try:
            ids = self.list_runs()
        except Exception:  # the listing is a hint: the missing id is the error
            ids = []
        known = (
            f"It holds {len(ids)} run(s), most recent first: {', '.join(map(repr, ids[:10]))}"
            + (", ..." if len(ids) > 10 else "")
            if ids
            else "It holds no checkpoint at all"
        )
        return (
            f"No checkpoint for run id {run_id!r} in {self!r}. {known}. Run ids are in RunResult.run_id "
            "(run(..., return_full_result=True)) and in the run's logs; store.list_runs() lists them."
        )


# ---------------------------------------------------------------------------- SQLite
class SQLiteCheckpointStore(CheckpointStore):
    """Checkpoints in one SQLite file (standard library): the default kind of store.

    Safe across threads and processes: the database runs in WAL mode (readers never block
    the writer), every write is one transaction, and a busy database is waited for up to
    ``timeout`` seconds. A committed checkpoint survives the process being killed; with
    ``durable_writes=True`` (``synchronous=FULL``) it also survives a power loss, at the
    cost of an fsync per step.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 30.0, durable_writes: bool = False
    ) -> None:
        self.path = os.fspath(path)
        if self.path == ":memory:" or self.path == "":
            raise UserError(
                "SQLiteCheckpointStore needs a file path: an in-memory database ends with the process, "
                "and surviving the process is what checkpoints are for."
            )
        self.timeout = timeout
        self.durable_writes = durable_writes
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._lock:
                self._connection()
        except sqlite3.Error as exc:
            raise CheckpointError(
                f"Cannot open the checkpoint database {self.path!r}: {exc}. Give a path to a writable "
                "SQLite file (it is created if missing)."
            ) from exc

    def _connection(self) -> sqlite3.Connection:
        """The connection of this process (under ``self._lock``): a forked child opens its own."""
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable_writes else 'NORMAL'}")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS smolagents_checkpoints ("
                "run_id TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL)"
            )
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def write(self, run_id: str, data: str) -> None:
        with self._lock:
            self._connection().execute(
                "INSERT INTO smolagents_checkpoints (run_id, data, updated_at) VALUES (?, ?, julianday('now')) "
                "ON CONFLICT(run_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (run_id, data),
            )

    def read(self, run_id: str) -> str | None:
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT data FROM smolagents_checkpoints WHERE run_id = ?", (run_id,))
                .fetchone()
            )
        return None if row is None else str(row[0])

    def list_runs(self) -> list[str]:
        with self._lock:
            rows = (
                self._connection()
                .execute("SELECT run_id FROM smolagents_checkpoints ORDER BY updated_at DESC, rowid DESC")
                .fetchall()
            )
        return [str(row[0]) for row in rows]

    def delete(self, run_id: str) -> bool:
        with self._lock:
            cursor = self._connection().execute(
                "DELETE FROM smolagents_checkpoints WHERE run_id = ?", (run_id,)
            )
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __repr__(self) -> str:
        return f"SQLiteCheckpointStore({self.path!r})"


# ---------------------------------------------------------------------------- directory
class DirectoryCheckpointStore(CheckpointStore):
    """Checkpoints as JSON files, ``<path>/<run_id>.json``: easy to read, copy and diff.

    Each write goes to a temporary file in the same directory, then replaces the old file
    with ``os.replace`` (atomic): a reader, or a process killed mid-write, sees the old
    document or the new one, never half of one. ``durable_writes=True`` also fsyncs the file
    and the directory (survives a power loss).
    """

    def __init__(self, path: str | os.PathLike[str], *, durable_writes: bool = False) -> None:
        self.path = Path(path)
        self.durable_writes = durable_writes
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(
                f"Cannot create the checkpoint directory {str(self.path)!r}: {exc}. Give a writable directory."
            ) from exc

    def _file(self, run_id: str) -> Path:
        return self.path / f"{check_run_id(run_id)}.json"

    def write(self, run_id: str, data: str) -> None:
        target = self._file(run_id)
        fd, temp = tempfile.mkstemp(dir=self.path, prefix=f".{run_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
                if self.durable_writes:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise
        if self.durable_writes and hasattr(os, "O_DIRECTORY"):
            dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def read(self, run_id: str) -> str | None:
        if not _RUN_ID.match(run_id):
            return None  # no file can have that name
        try:
            return self._file(run_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def list_runs(self) -> list[str]:
        found = []
        for entry in os.scandir(self.path):
            name = entry.name
            if name.endswith(".json") and _RUN_ID.match(name[: -len(".json")]) and entry.is_file():
                found.append((entry.stat().st_mtime_ns, name[: -len(".json")]))
        return [run_id for _mtime, run_id in sorted(found, reverse=True)]

    def delete(self, run_id: str) -> bool:
        if not _RUN_ID.match(run_id):
            return False
        try:
            self._file(run_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def __repr__(self) -> str:
        return f"DirectoryCheckpointStore({str(self.path)!r})"
