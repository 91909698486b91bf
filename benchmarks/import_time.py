"""Median wall time of `import smolagents` in a fresh interpreter, minus interpreter start-up.

Run: python benchmarks/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = [
    "openai",
    "torch",
    "transformers",
    "litellm",
    "gradio",
    "huggingface_hub",
    "boto3",
    "mcp",
    "numpy",
    "PIL",
]


def _time(code: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    baseline = statistics.median(_time("pass", args.runs))
    total = statistics.median(_time("import smolagents", args.runs))
    check = subprocess.run(
        [sys.executable, "-c", f"import sys, smolagents; print([m for m in {HEAVY!r} if m in sys.modules])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"python start-up (median of {args.runs}):  {baseline * 1000:7.1f} ms")
    print(f"python -c 'import smolagents' (median): {total * 1000:7.1f} ms")
    print(f"import smolagents alone:                {(total - baseline) * 1000:7.1f} ms (target < 150 ms)")
    print(f"optional dependencies imported:         {check}")


if __name__ == "__main__":
    main()
