"""The batch's progress bar and end-of-run summary (rich), or nothing when quiet.

A long batch is watched by a person: they want to see at a glance how far it is, whether
tasks are failing, what it costs in tokens and when it will end, and at the end one table
that says what happened (including how many results came from an earlier, resumed run).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ._records import BatchResult

__all__ = ["BatchProgress"]


class BatchProgress:
    """Counts finished tasks; draws them unless ``quiet``."""

    def __init__(self, total: int, skipped: int, backend: str, quiet: bool = False) -> None:
        self.total = total
        self.skipped = skipped
        self.done = 0
        self.failed = 0
        self.tokens = 0
        self.started = time.monotonic()
        self.backend = backend
        self._progress: Any = None
        self._bar: Any = None
        if quiet:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]batch[/] ({task.fields[backend]})"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[tokens]:,} tokens"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        self._progress.start()
        self._bar = self._progress.add_task(
            "batch", total=total - skipped, backend=backend, ok=0, failed=0, tokens=0
        )

    def update(self, result: BatchResult) -> None:
        self.done += 1
        self.failed += not result.ok
        self.tokens += result.token_usage.total_tokens if result.token_usage else 0
        if self._progress is not None:
            self._progress.update(
                self._bar, advance=1, ok=self.done - self.failed, failed=self.failed, tokens=self.tokens
            )

    def close(self, results: Sequence[BatchResult] | None = None) -> None:
        """Stop the bar and, unless quiet, print the summary of ``results``."""
        if self._progress is None:
            return
        self._progress.stop()
        if results is not None:
            self._progress.console.print(
                summary_table(results, time.monotonic() - self.started, self.backend)
            )


def summary_table(results: Sequence[BatchResult], wall: float, backend: str) -> Any:
    from rich.table import Table

    resumed = [r for r in results if r.resumed]
    ran = [r for r in results if not r.resumed]
    timed_out = sum(r.timed_out for r in results)
    failed = sum(not r.ok for r in results) - timed_out
    tokens_in = sum(r.token_usage.input_tokens for r in results if r.token_usage)
    tokens_out = sum(r.token_usage.output_tokens for r in results if r.token_usage)
    table = Table(title=f"Batch summary ({backend})", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("tasks", str(len(results)))
    table.add_row("succeeded", f"[green]{sum(r.ok for r in results)}[/]")
    table.add_row("failed", f"[red]{failed}[/]")
    table.add_row("timed out", f"[yellow]{timed_out}[/]")
    table.add_row("from an earlier run (resumed)", str(len(resumed)))
    table.add_row("retried", str(sum(r.attempts > 1 for r in ran)))
    table.add_row("tokens in / out", f"{tokens_in:,} / {tokens_out:,}")
    table.add_row("steps", str(sum(r.steps for r in results)))
    table.add_row("wall time", f"{wall:.1f} s")
    if ran:
        table.add_row("mean task time", f"{sum(r.duration for r in ran) / len(ran):.2f} s")
    return table
