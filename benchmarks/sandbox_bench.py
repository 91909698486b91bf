"""Sandbox speed benchmark: representative agent snippets, native CPython vs LocalPythonExecutor.

Run with ``.venv/bin/python benchmarks/sandbox_bench.py`` (``--quick`` for fewer repeats).
Every snippet ends with an expression; its native value and its sandboxed value must be
equal, so a sandbox that "wins" by computing the wrong thing fails loudly.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from smolagents.local_python_executor import LocalPythonExecutor

SNIPPETS: dict[str, str] = {
    "loop_arithmetic": """
total = 0
for i in range(200_000):
    total += i * i % 7
total
""",
    "while_100k": """
i = 0
acc = 0
while i < 100_000:
    if i % 3 == 0:
        acc += i
    i += 1
acc
""",
    "comprehensions": """
squares = [x * x for x in range(100_000) if x % 3]
lookup = {x: x + 1 for x in range(50_000)}
evens = sum(1 for v in lookup.values() if v % 2 == 0)
(len(squares), squares[-1], evens)
""",
    "string_processing": """
words = ("The quick brown Fox jumps over the lazy dog, and the DOG sleeps. " * 3000).split()
counts = {}
for word in words:
    key = word.lower().strip(".,")
    counts[key] = counts.get(key, 0) + 1
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
(len(words), top)
""",
    "recursion_fib": """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
fib(21)
""",
    "function_calls": """
def clamp(x, low=0, high=100):
    return max(low, min(high, x))
def score(a, b, *, weight=2):
    return clamp(a * weight - b)
total = 0
for i in range(60_000):
    total += score(i % 97, i % 13, weight=3)
total
""",
    "classes": """
class Account:
    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance
        self.history = []
    def deposit(self, amount):
        self.balance += amount
        self.history.append(amount)
        return self.balance
    @property
    def n_ops(self):
        return len(self.history)
class Savings(Account):
    def deposit(self, amount):
        return super().deposit(amount + 1)
accounts = [Savings(f"user{i}") if i % 2 else Account(f"user{i}") for i in range(200)]
for step in range(150):
    for account in accounts:
        account.deposit(step)
(sum(a.balance for a in accounts), accounts[1].n_ops)
""",
    "sorting_with_keys": """
import random
rng = random.Random(7)
records = [{"name": f"item{i}", "price": rng.randint(1, 1000), "qty": rng.randint(1, 50)} for i in range(20_000)]
by_price = sorted(records, key=lambda r: (r["price"], r["name"]))
by_value = sorted(records, key=lambda r: r["price"] * r["qty"], reverse=True)
(by_price[0]["name"], by_value[0]["name"], by_value[-1]["price"] * by_value[-1]["qty"])
""",
    "regex_log_parsing": """
import re
lines = [f"2024-01-{d:02d} 12:{m:02d}:00 ERROR user{d * m} failed login from 10.0.{d}.{m}" for d in range(1, 29) for m in range(60)]
pattern = re.compile(r"(\\d{4})-(\\d{2})-(\\d{2}) .* (\\w+) user(\\d+) .* from ([\\d.]+)")
hosts = {}
for line in lines:
    match = pattern.match(line)
    if match:
        hosts[match.group(6)] = hosts.get(match.group(6), 0) + int(match.group(5))
emails = re.findall(r"[a-z]+@[a-z]+\\.com", "contact alice@example.com or bob@test.com today " * 40)
(len(hosts), max(hosts.values()), len(emails))
""",
    "dict_manipulation": """
from collections import defaultdict
sales = [(f"region{i % 7}", f"product{i % 23}", (i * 37) % 101) for i in range(60_000)]
by_region = defaultdict(lambda: defaultdict(int))
for region, product, amount in sales:
    by_region[region][product] += amount
summary = {region: max(products.items(), key=lambda kv: kv[1]) for region, products in by_region.items()}
merged = {}
for region in sorted(summary):
    merged.update({f"{region}:{k}": v for k, v in by_region[region].items() if v > 2000})
(len(merged), summary["region3"])
""",
    "math_primes": """
import math
def is_prime(n):
    if n < 2:
        return False
    for d in range(2, math.isqrt(n) + 1):
        if n % d == 0:
            return False
    return True
primes = [n for n in range(2, 30_000) if is_prime(n)]
norm = math.sqrt(sum(p * p for p in primes[:1000]))
(len(primes), round(norm, 3), round(sum(math.sin(p) for p in primes), 6))
""",
    "generators_pipeline": """
def read(n):
    for i in range(n):
        yield {"id": i, "value": (i * 7919) % 1000}
def keep(rows):
    for row in rows:
        if row["value"] > 500:
            yield row
def values(rows):
    return (row["value"] for row in rows)
sum(values(keep(read(80_000))))
""",
    "string_formatting": """
rows = [(f"item-{i}", i * 1.5, i % 4 == 0) for i in range(30_000)]
report = "\\n".join(f"{name:<12}|{price:>10.2f}|{'yes' if flag else 'no':^5}" for name, price, flag in rows)
summary = "Total: {:,.2f} over {} items".format(sum(p for _, p, _ in rows), len(rows))
(len(report), report[:30], summary)
""",
    "exceptions_parsing": """
raw = [str(i) if i % 5 else f"x{i}" for i in range(40_000)]
good, bad = 0, 0
for token in raw:
    try:
        good += int(token)
    except ValueError:
        bad += 1
(good, bad)
""",
    "statistics_datetime": """
import statistics, datetime
start = datetime.date(2020, 1, 1)
days = [start + datetime.timedelta(days=i) for i in range(5_000)]
weekdays = [d.weekday() for d in days]
values = [(d.toordinal() % 97) * 1.1 for d in days]
(statistics.mean(values), statistics.median(weekdays), days[-1].isoformat())
""",
}


def _split(code: str) -> tuple[Any, Any]:
    tree = ast.parse(code)
    tail = tree.body.pop()
    assert isinstance(tail, ast.Expr), "every snippet ends with an expression"
    body = compile(tree, "<native>", "exec")
    expression = compile(ast.Expression(body=tail.value), "<native>", "eval")
    return body, expression


def run_native(code: str) -> Callable[[], Any]:
    body, expression = _split(code)

    def run() -> Any:
        namespace: dict[str, Any] = {"__builtins__": builtins}
        exec(body, namespace)
        return eval(expression, namespace)

    return run


def run_sandboxed(code: str) -> Callable[[], Any]:
    executor = LocalPythonExecutor([])

    def run() -> Any:
        executor.state.clear()
        return executor(code).output

    run.executor = executor  # type: ignore[attr-defined]
    return run


def interleaved(
    native: Callable[[], Any], sandboxed: Callable[[], Any], repeats: int, clock: Callable[[], float]
) -> tuple[float, Any, float, Any]:
    """Best times of both, their runs alternating: on a shared machine the load drifts, and
    a drift between two back-to-back series would show up as a ratio."""
    native_times, sandbox_times = [], []
    native_value = sandbox_value = None
    for _ in range(repeats):
        start = clock()
        native_value = native()
        native_times.append(clock() - start)
        start = clock()
        sandbox_value = sandboxed()
        sandbox_times.append(clock() - start)
    return min(native_times), native_value, min(sandbox_times), sandbox_value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 11")
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs of each side per snippet (more gives steadier minimums on a busy machine)",
    )
    parser.add_argument("--only", help="run only snippets whose name contains this")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time with process CPU time instead of wall time (steadier on a busy machine)",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 11)
    clock = time.process_time if args.cpu else time.perf_counter
    kind = "CPU time" if args.cpu else "wall time"
    print(
        f"Python {sys.version.split()[0]}, best of {repeats} runs per snippet, native and sandboxed runs alternating ({kind})\n"
    )
    print(f"{'snippet':<22}{'native ms':>11}{'sandbox ms':>12}{'ratio':>8}")
    ratios = []
    failures = []
    for name, code in SNIPPETS.items():
        if args.only and args.only not in name:
            continue
        sandboxed = run_sandboxed(code)
        native_time, native_value, sandbox_time, sandbox_value = interleaved(
            run_native(code), sandboxed, repeats, clock
        )
        # each snippet starts from a clean process: no earlier executor's thread or state
        sandboxed.executor.cleanup()  # type: ignore[attr-defined]
        del sandboxed
        gc.collect()
        ok = native_value == sandbox_value
        if not ok:
            failures.append(name)
        ratio = sandbox_time / native_time
        ratios.append(ratio)
        flag = "" if ok else "   RESULT MISMATCH"
        print(f"{name:<22}{native_time * 1e3:>11.2f}{sandbox_time * 1e3:>12.2f}{ratio:>7.2f}x{flag}")
    geomean = math.exp(statistics.fmean(math.log(r) for r in ratios))
    print(
        f"\ngeometric mean sandbox/native over {len(ratios)} snippets: {geomean:.2f}x (target <= 1.3x, no snippet above 2x)"
    )
    if failures:
        print(f"results differed for: {failures}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
