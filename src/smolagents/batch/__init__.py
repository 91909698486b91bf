"""Run an agent over many tasks: threads, processes or a Ray cluster, resumable from a JSONL file.

Benchmarks, data extraction and nightly jobs run the same agent over hundreds of tasks.
:func:`run_batch` gives each task a fresh agent (from ``make_agent``), runs them
concurrently, records every result in a JSONL file as it finishes (so a crashed batch is
resumed, not restarted), and never lets one failing or hanging task stop the rest::

    from smolagents import CodeAgent, OpenAIModel
    from smolagents.batch import run_batch

    def make_agent():  # module level: processes and Ray workers import it
        return CodeAgent(tools=[], model=OpenAIModel(model_id="gpt-4o-mini"))

    results = run_batch(["What is 2**10?", {"id": "q2", "task": "Capital of Peru?"}],
                        make_agent, results_path="results.jsonl", task_timeout=300, retries=1)

The same call runs on a Ray cluster with ``backend="ray", ray_address="ray://head:10001"``
(``pip install 'smolagents[ray]'``).
"""

from __future__ import annotations

from ._records import BatchResult, BatchTask
from ._runner import run_batch

__all__ = ["BatchResult", "BatchTask", "run_batch"]
