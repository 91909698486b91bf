"""Batch throughput: sequential vs threads vs processes vs Ray (issue 13).

200 tasks, each a CodeAgent driven by a scripted model that sleeps 50 ms per call (standing
in for model latency) over 3 steps. Prints wall times and speed-ups over sequential.

    python benchmarks/batch_bench.py [--tasks 200] [--concurrency 16] [--ray-address HOST:PORT]
                                     [--backends sequential threads processes ray]

Without ``--ray-address`` the Ray backend starts (and stops) a private local runtime. Ray
listens on the machine's address unless it is alone with loopback, so on a shared machine
run this inside ``unshare -n sh -c 'ip link set lo up && python benchmarks/batch_bench.py'``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from smolagents.agents import CodeAgent
from smolagents.batch import BatchTask, run_batch
from smolagents.monitoring import LogLevel
from smolagents.testing import ScriptedModel

LATENCY = 0.05


def _slow(reply: str) -> Any:
    def answer(messages: Any, **kwargs: Any) -> str:
        time.sleep(LATENCY)
        return reply

    return answer


def make_agent(task: BatchTask) -> CodeAgent:
    """Three steps, three model calls of 50 ms each."""
    n = task.metadata["n"]
    replies = [
        _slow(f"Thought: start.\n<code>\nx = {n} * 2\n</code>"),
        _slow("Thought: add.\n<code>\ny = x + 1\n</code>"),
        _slow("Thought: done.\n<code>\nfinal_answer(y)\n</code>"),
    ]
    return CodeAgent(tools=[], model=ScriptedModel(replies), verbosity_level=LogLevel.OFF)


def run_sequential(tasks: list[dict[str, Any]]) -> list[Any]:
    outputs = []
    for task in tasks:
        agent = make_agent(BatchTask(id=task["id"], task=task["task"], metadata={"n": task["n"]}))
        outputs.append(agent.run(task["task"]))
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ray-address", default=None)
    parser.add_argument("--backends", nargs="*", default=["sequential", "threads", "processes", "ray"])
    args = parser.parse_args()
    tasks = [{"id": f"b{n}", "task": f"Compute {n} * 2 + 1.", "n": n} for n in range(args.tasks)]
    expected = [n * 2 + 1 for n in range(args.tasks)]
    times: dict[str, float] = {}

    def batch(backend: str) -> list[Any]:
        results = run_batch(
            tasks,
            make_agent,
            backend=backend,
            max_concurrency=args.concurrency,
            ray_address=args.ray_address,
            quiet=True,
        )
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        return [r.output for r in results]

    def timed(label: str, run: Any) -> None:
        started = time.perf_counter()
        outputs = run()
        times[label] = time.perf_counter() - started
        assert outputs is None or outputs == expected, f"{label}: wrong answers"
        print(f"{label:>28}: {times[label]:7.2f} s", flush=True)

    for backend in args.backends:
        if backend == "sequential":
            timed("sequential", lambda: run_sequential(tasks))
        elif backend != "ray":
            timed(backend, lambda backend=backend: batch(backend))
        elif args.ray_address is not None:
            timed("ray (cold workers)", lambda: batch("ray"))
            timed("ray (warm workers)", lambda: batch("ray"))
        else:
            # What a user of a one-off run_batch(backend="ray") waits for: the call starts a
            # private runtime, runs the batch and shuts the runtime down
            timed("ray incl. runtime start/stop", lambda: batch("ray"))
            # Then with a runtime started beforehand (its start-up shown apart): the first
            # batch starts its worker processes, the second finds Ray's idle ones
            import ray

            from smolagents.batch._ray import local_ray_init_options, pool_shape

            cpus = pool_shape(args.concurrency)[0]  # what run_batch itself would start
            timed("ray runtime start-up", lambda cpus=cpus: ray.init(**local_ray_init_options(cpus)) and None)
            timed("ray (cold workers)", lambda: batch("ray"))
            timed("ray (warm workers)", lambda: batch("ray"))
            ray.shutdown()
    base = times.get("sequential")
    ideal = args.tasks * 3 * LATENCY
    print(f"\n{args.tasks} tasks x 3 steps x {LATENCY * 1000:.0f} ms; concurrency {args.concurrency}")
    print("| backend | wall (s) | tasks/s | speed-up vs sequential |")
    print("|---|---:|---:|---:|")
    for label, wall in times.items():
        if label == "ray runtime start-up":
            print(f"| {label} | {wall:.2f} | - | - |")
            continue
        ratio = f"{base / wall:.1f}x" if base else "-"
        print(f"| {label} | {wall:.2f} | {args.tasks / wall:.1f} | {ratio} |")
    print(f"(model latency alone, sequential: {ideal:.0f} s)")


if __name__ == "__main__":
    main()
