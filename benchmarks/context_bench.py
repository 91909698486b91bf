"""Context policy: prompt tokens of a long run, full replay vs. ``ContextPolicy`` (issue 12).

Run with ``.venv/bin/python benchmarks/context_bench.py`` (``--steps``, ``--obs-chars``,
``--agent code`` to use a CodeAgent, ``--curve`` for every step). A scripted model drives a
run of ``--steps`` tool calls whose observations are ``--obs-chars`` characters of
text, then a final answer computed by the script. The same script runs with no policy
(today's full replay) and with policies; for each, the prompt of every model call is
counted with the same counter (the policy's estimate, 1 token per 3 characters, as no
tokenizer is available offline), and the script checks that every run gives the same
answer.

Targets: total prompt tokens with the policy at most 50% of full replay, and per-step
prompt size flat (not growing) once the summary kicks in.
"""

from __future__ import annotations

import argparse
import math
import random
import sys

from smolagents import CodeAgent, ToolCallingAgent, tool
from smolagents.agents._context import ContextPolicy, count_message_tokens
from smolagents.testing import ScriptedModel

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "report",
    "value",
    "total",
    "index",
    "result",
    "page",
    "section",
    "table",
    "figure",
    "note",
]


def observation(page: int, size: int) -> str:
    rng = random.Random(page)
    words = []
    while sum(len(w) + 1 for w in words) < size:
        words.append(rng.choice(WORDS) if rng.random() < 0.8 else str(rng.randint(0, 9999)))
    return f"page {page}: " + " ".join(words)[: size - 10]


def script(agent: str, steps: int) -> list[object]:
    answer = f"read {steps} pages"
    if agent == "code":
        replies: list[object] = [f"<code>\nprint(read_page(page={i}))\n</code>" for i in range(steps)]
        return [*replies, f"<code>\nfinal_answer({answer!r})\n</code>"]
    calls = [ScriptedModel.tool_call("read_page", {"page": i}, id=f"call_{i}") for i in range(steps)]
    return [*calls, ScriptedModel.tool_call("final_answer", {"answer": answer}, id="call_final")]


def run(agent_kind: str, steps: int, size: int, policy: ContextPolicy | None) -> tuple[list[int], str]:
    @tool
    def read_page(page: int) -> str:
        """Read one page of the report.

        Args:
            page: page number.
        """
        return observation(page, size)

    model = ScriptedModel(script(agent_kind, steps))
    cls = CodeAgent if agent_kind == "code" else ToolCallingAgent
    agent = cls([read_page], model, verbosity_level=0, max_steps=steps + 5, context_policy=policy)
    answer = str(agent.run("Read every page of the report and say how many you read."))

    def count(text: str) -> int:
        return math.ceil(len(text) / 3)

    tool_text = ""
    if agent_kind != "code":
        import json

        tool_text = json.dumps([t.to_json_schema() for t in agent.tools_and_managed_agents])
    per_step = [count_message_tokens(call.messages, count) + count(tool_text) for call in model.calls]
    return per_step, answer


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--obs-chars", type=int, default=2048)
    parser.add_argument("--agent", choices=["tool_calling", "code"], default="tool_calling")
    parser.add_argument("--curve", action="store_true", help="print every step, not every third")
    args = parser.parse_args()

    setups: list[tuple[str, ContextPolicy | None]] = [
        ("full replay (default)", None),
        ("keep_last_steps=4", ContextPolicy(keep_last_steps=4)),
        ("keep 4 + max_observation_chars=600", ContextPolicy(keep_last_steps=4, max_observation_chars=600)),
        ("max_input_tokens=4000", ContextPolicy(max_input_tokens=4000)),
        ("keep 4, summarize_every=4", ContextPolicy(keep_last_steps=4, summarize_every=4)),
    ]
    results = []
    for label, policy in setups:
        per_step, answer = run(args.agent, args.steps, args.obs_chars, policy)
        results.append((label, per_step, answer))

    base_total = sum(results[0][1])
    print(f"{args.agent} agent, {args.steps} steps, {args.obs_chars}-character observations")
    print(
        f"{'setup':38} {'total tokens':>12} {'vs full':>8} {'max/step':>9} {'last 10: min-max':>17}  answer"
    )
    ok = True
    for label, per_step, answer in results:
        total = sum(per_step)
        tail = per_step[-10:]
        print(
            f"{label:38} {total:>12,} {total / base_total:>8.0%} {max(per_step):>9,} "
            f"{f'{min(tail):,}-{max(tail):,}':>17}  {answer}"
        )
        ok = ok and answer == results[0][2]
    print()
    stride = 1 if args.curve else 3
    header = "call " + " ".join(f"{label.split(' (')[0][:14]:>15}" for label, _, _ in results)
    print(header)
    for index in range(0, len(results[0][1]), stride):
        row = " ".join(f"{per_step[index]:>15,}" for _, per_step, _ in results)
        print(f"{index + 1:>4} {row}")
    if len(results[0][1]) % stride != 1 and stride > 1:
        index = len(results[0][1]) - 1
        print(f"{index + 1:>4} " + " ".join(f"{per_step[index]:>15,}" for _, per_step, _ in results))
    if not ok:
        print("ERROR: the runs did not all give the same answer", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
