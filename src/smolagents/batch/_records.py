"""What a batch is made of: tasks in, results out, and the JSONL file that makes it resumable.

The results file is the batch's memory across crashes: one JSON object per finished task,
appended and flushed as soon as the task ends, so a killed driver loses only the tasks that
were still running. Reading it back tolerates the one defect a crash can leave (a last line
cut short) and takes the last record of an id when there are several.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._monitoring_types import TokenUsage

__all__ = ["BatchResult", "BatchTask", "ResultsFile", "encode_output", "normalize_tasks"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchTask:
    """One task of a batch: its id, the prompt, the agent's ``additional_args``, and any
    other keys of the task's dict (``metadata``), which ``make_agent(task)`` may read."""

    id: str
    task: str
    additional_args: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    """The outcome of one task. ``error`` is None on success; ``output`` is the agent's
    answer (as read back from the results file when ``resumed``); ``attempts`` counts runs,
    retries included; ``duration`` is the seconds spent over all attempts."""

    id: str
    task: str
    output: Any = None
    error: str | None = None
    steps: int = 0
    token_usage: TokenUsage | None = None
    duration: float = 0.0
    attempts: int = 1
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def timed_out(self) -> bool:
        return self.error is not None and self.error.startswith("TimeoutError")

    def to_record(self) -> dict[str, Any]:
        """The JSON line written to the results file."""
        output, output_type = encode_output(self.output)
        return {
            "id": self.id,
            "task": self.task,
            "output": output,
            "output_type": output_type,
            "error": self.error,
            "steps": self.steps,
            "token_usage": self.token_usage.dict() if self.token_usage else None,
            "duration": round(self.duration, 6),
            "attempts": self.attempts,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> BatchResult:
        usage = record.get("token_usage")
        return cls(
            id=str(record["id"]),
            task=str(record.get("task", "")),
            output=record.get("output"),
            error=record.get("error"),
            steps=int(record.get("steps") or 0),
            token_usage=TokenUsage(usage.get("input_tokens", 0), usage.get("output_tokens", 0))
            if isinstance(usage, Mapping)
            else None,
            duration=float(record.get("duration") or 0.0),
            attempts=int(record.get("attempts") or 1),
            resumed=True,
        )


TaskLike = str | Mapping[str, Any] | BatchTask


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > 50:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple):
        return all(_is_json(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def encode_output(value: Any) -> tuple[Any, str]:
    """``(JSON value, type name)``: plain JSON values as they are (str subclasses such as
    ``AgentText`` as their text), anything else as its ``str()`` so a line is never lost to
    one odd answer; the type name says which it was."""
    type_name = type(value).__name__
    if isinstance(value, str):
        return str(value), type_name
    if _is_json(value):
        return (list(value) if isinstance(value, tuple) else value), type_name
    try:
        return str(value), type_name
    except Exception as exc:  # a broken __str__ must not lose the record
        return f"<unprintable {type_name}: {exc!r}>", type_name


def normalize_tasks(tasks: Iterable[TaskLike]) -> list[BatchTask]:
    """Strings and dicts as :class:`BatchTask`; a task without an id gets its position.

    Ids must be unique: they are what a resumed batch matches on.
    """
    normalized: list[BatchTask] = []
    seen: set[str] = set()
    for index, item in enumerate(tasks):
        if isinstance(item, BatchTask):
            task = item
        elif isinstance(item, str):
            task = BatchTask(id=str(index), task=item)
        elif isinstance(item, Mapping):
            if not isinstance(item.get("task"), str):
                raise ValueError(f"batch task #{index} has no 'task' string: {dict(item)!r}")
            extra = item.get("additional_args")
            if extra is not None and not isinstance(extra, Mapping):
                raise ValueError(f"batch task #{index}: 'additional_args' must be a dict, got {extra!r}")
            task = BatchTask(
                id=str(item.get("id", index)),
                task=item["task"],
                additional_args=dict(extra) if extra is not None else None,
                metadata={k: v for k, v in item.items() if k not in ("id", "task", "additional_args")},
            )
        else:
            raise TypeError(f"batch task #{index} must be a str or a dict, got {type(item).__name__}")
        if task.id in seen:
            raise ValueError(f"batch task id {task.id!r} appears twice; ids must be unique to resume")
        seen.add(task.id)
        normalized.append(task)
    return normalized


class ResultsFile:
    """The append-only JSONL results file of a batch (thread-safe appends)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handle: Any = None

    def load(self) -> dict[str, dict[str, Any]]:
        """The records already written, by id (last one wins); unreadable lines are skipped."""
        records: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return records
        with self.path.open("r", encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    logger.warning(
                        "%s: line %d is not JSON (cut short by a crash?); ignored", self.path, number
                    )
                    continue
                if isinstance(record, dict) and "id" in record:
                    records[str(record["id"])] = record
        return records

    def append(self, result: BatchResult) -> None:
        line = json.dumps(result.to_record(), ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._handle is None:
                self._handle = self._open()
            self._handle.write(line)
            self._handle.flush()  # in the kernel now: a killed driver keeps it

    def _open(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = False
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as existing:
                existing.seek(-1, os.SEEK_END)
                needs_newline = existing.read(1) != b"\n"
        handle = self.path.open("a", encoding="utf-8")
        if needs_newline:  # a crash cut the last line: start ours on a fresh one
            handle.write("\n")
        return handle

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
