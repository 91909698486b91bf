"""Durable runs: per-step cost of saving a checkpoint after every step, against the plain loop.

Run with ``.venv/bin/python benchmarks/checkpoint_bench.py`` (``--quick`` for fewer runs;
``--postgres DSN`` adds a PostgreSQL row). A CodeAgent runs on a model that answers at
once (``ScriptedModel``), so the loop's own cost is all there is to measure: the ratio is
the worst case; with a real model (hundreds of ms per step) the added milliseconds per step
are what matters. Each step's code keeps a few variables in the sandbox (saved with every
checkpoint). Runs of 5 and of 20 steps: a checkpoint holds the whole memory, so a longer
run writes more per step (each model input message is stored once, not once per step).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def per_step_ms(store_factory: Any, runs: int, steps: int) -> float:
    from smolagents import CodeAgent, LogLevel
    from smolagents.testing import ScriptedModel

    replies = [f"Thought: go.\n<code>\nv{i} = [{i}] * 10\ntotal = {i}\n</code>" for i in range(steps - 1)]
    replies.append("<code>\nfinal_answer(total)\n</code>")
    agent = CodeAgent(tools=[], model=ScriptedModel(replies * runs), max_steps=steps + 1)
    agent.logger.level = LogLevel.OFF
    store = store_factory()
    start = time.perf_counter()
    for _ in range(runs):
        agent.run("go", checkpoint=store)
    elapsed = time.perf_counter() - start
    if store is not None:
        store.close()
    return elapsed * 1000 / (runs * steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", metavar="DSN", help="also measure PostgresCheckpointStore(DSN)")
    args = parser.parse_args(argv)
    from smolagents.checkpoints import (
        DirectoryCheckpointStore,
        PostgresCheckpointStore,
        SQLiteCheckpointStore,
    )

    workdir = Path(tempfile.mkdtemp(prefix="checkpoint-bench-"))
    counter = iter(range(10**6))
    kinds: dict[str, Any] = {
        "plain loop (no checkpoint)": lambda: None,
        "sqlite checkpoint": lambda: SQLiteCheckpointStore(workdir / f"runs{next(counter)}.db"),
        "directory checkpoint (JSON files)": lambda: DirectoryCheckpointStore(
            workdir / f"dir{next(counter)}"
        ),
    }
    if args.postgres:
        kinds["postgres checkpoint"] = lambda: PostgresCheckpointStore(
            args.postgres, table=f"bench_{next(counter)}"
        )
    repeats = 3 if args.quick else 5
    print(
        f"{'per step, zero-latency model':<36}{'5-step runs (ms)':>18}{'ratio':>8}{'20-step runs (ms)':>19}{'ratio':>8}"
    )
    baseline: dict[int, float] = {}
    for name, factory in kinds.items():
        cells = []
        for steps, runs in ((5, 20 if args.quick else 60), (20, 5 if args.quick else 15)):
            ms = statistics.median(per_step_ms(factory, runs, steps) for _ in range(repeats))
            baseline.setdefault(steps, ms)
            cells.append(f"{ms:>18.3f}{ms / baseline[steps]:>7.2f}x")
        print(f"{name:<36}{cells[0]}{cells[1]:>27}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
