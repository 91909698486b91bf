"""The checkpoint document: one JSON object per run, versioned, checked when read.

Why a format of our own, in JSON: a checkpoint outlives the process that wrote it and is
read by another one, maybe of a later release. JSON keeps it inspectable (``sqlite3 runs.db
'select data from smolagents_checkpoints'``) and holds no code (values go through the typed
value codec, never pickle). Every document starts with::

    {"format": "smolagents.checkpoint", "version": 1, "run_id": "...", "status": "running", ...}

A reader refuses, with a :class:`CheckpointError` saying what to do, a document that is not
JSON, not ours, incomplete, or written in a newer version: a damaged checkpoint never turns
into a silent fresh start.

Version 1 fields (written by ``agents/_durable.py``): ``run_id``, ``status`` (``running``,
``failed`` or ``finished``), ``created_at``/``updated_at`` (epoch seconds), ``agent`` (class,
name, model id, tool names), ``run`` (task, max_steps, images, output schema...),
``step_number``, ``token_usage``, ``memory`` (a list of ``{"kind", "data"}`` step records;
a step's model input messages are stored once in ``messages`` and named by their indexes
in the entry's ``inputs``, since every step's input repeats the ones before it),
``state`` (encoded variables and the names of those that could not be encoded), ``pending``
(a dict kept verbatim for features that pause a run, such as tool approval),
``current_step`` (a step in progress when the run was saved mid-step), ``result`` and
``error``.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import CheckpointError

__all__ = ["FORMAT", "VERSION", "check_record", "decode_record", "encode_record"]

FORMAT = "smolagents.checkpoint"
#: the version this release writes, and the newest it reads
VERSION = 1
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "status": str,
    "run": dict,
    "memory": list,
    "state": dict,
    "pending": dict,
}
_OPTIONAL_LISTS = ("messages",)
_STATUSES = ("running", "failed", "finished")


def _corrupt(run_id: str, store: Any, what: str) -> CheckpointError:
    return CheckpointError(
        f"The checkpoint of run {run_id!r} in {store!r} is corrupt: {what}. It cannot be resumed. "
        f"Restore the store from a backup, or delete the record (store.delete({run_id!r})) and "
        "start the run again."
    )


def check_record(record: Any, run_id: str, store: Any) -> dict[str, Any]:
    """``record`` if it is a checkpoint this release can resume, else a CheckpointError."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise _corrupt(
            run_id, store, f"it is not a smolagents checkpoint (format {found!r}, expected {FORMAT!r})"
        )
    version = record.get("version")
    if type(version) is not int or version < 1:
        raise _corrupt(run_id, store, f"its format version is {version!r}, not a positive integer")
    if version > VERSION:
        raise CheckpointError(
            f"The checkpoint of run {run_id!r} in {store!r} was written in checkpoint format version "
            f"{version}, by a newer smolagents; this one reads versions up to {VERSION}. Upgrade "
            "smolagents (pip install -U smolagents) in the process that resumes the run."
        )
    for name, kind in _REQUIRED.items():
        if not isinstance(record.get(name), kind):
            raise _corrupt(
                run_id, store, f"the field {name!r} is missing or not a {getattr(kind, '__name__', kind)}"
            )
    for name in _OPTIONAL_LISTS:
        if not isinstance(record.get(name, []), list):
            raise _corrupt(run_id, store, f"the field {name!r} is not a list")
    if record["run_id"] != run_id:
        raise _corrupt(run_id, store, f"it belongs to run {record['run_id']!r}")
    if record["status"] not in _STATUSES:
        raise _corrupt(run_id, store, f"its status {record['status']!r} is not one of {list(_STATUSES)}")
    for index, entry in enumerate(record["memory"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("data"), dict) or "kind" not in entry:
            raise _corrupt(run_id, store, f"memory entry {index} is not a {{'kind', 'data'}} record")
    return record


def decode_record(text: str | bytes, run_id: str, store: Any) -> dict[str, Any]:
    """Parse and check a stored document (see :func:`check_record`)."""
    try:
        record = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _corrupt(run_id, store, f"it is not valid JSON ({exc})") from None
    return check_record(record, run_id, store)


def encode_record(record: dict[str, Any], encoded: dict[str, list[str]] | None = None) -> str:
    """The document as JSON text. ``encoded`` maps fields (``memory``, ``messages``) to their
    items already encoded as JSON (the writer caches them: a step does not change once
    recorded); they are spliced in as the document's last fields."""
    if not encoded:
        return json.dumps(record, separators=(",", ":"))
    rest = {key: value for key, value in record.items() if key not in encoded}
    head = json.dumps(rest, separators=(",", ":"))
    tail = ",".join(f"{json.dumps(key)}:[{','.join(items)}]" for key, items in encoded.items())
    return f"{head[:-1]},{tail}}}" if rest else f"{{{tail}}}"
