"""Durable runs: stores for the checkpoints an agent saves after every step.

::

    from smolagents.checkpoints import SQLiteCheckpointStore

    store = SQLiteCheckpointStore("runs.db")
    result = agent.run(task, checkpoint=store, return_full_result=True)   # saves after each step
    ...                                                                   # the process dies
    answer = CodeAgent(tools=same_tools, model=same_model).resume(result.run_id, checkpoint=store)

Stores: :class:`SQLiteCheckpointStore` (standard library, the default kind; a path given
as ``checkpoint="runs.db"`` means one), :class:`DirectoryCheckpointStore` (a JSON file per
run) and :class:`PostgresCheckpointStore` (the ``postgres`` extra). Subclass
:class:`CheckpointStore` for another backend. What a checkpoint holds, and what resuming
restores, is described in ``smolagents/agents/_durable.py``.
"""

from __future__ import annotations

from ..errors import CheckpointError, CheckpointNotFoundError
from ._format import FORMAT, VERSION
from ._postgres import PostgresCheckpointStore
from ._stores import CheckpointStore, DirectoryCheckpointStore, SQLiteCheckpointStore

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointStore",
    "DirectoryCheckpointStore",
    "PostgresCheckpointStore",
    "SQLiteCheckpointStore",
]
