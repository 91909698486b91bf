"""A child process for the approve-later tests: runs an agent until it pauses for approval,
or answers a paused run's request, in a process of its own.

    python approval_script.py run KIND DB LOG      # prints the paused RunResult as JSON
    python approval_script.py approve KIND DB REQUEST_ID yes|no [REASON]

KIND is ``tool_calling`` or ``code``; DB is an SQLite checkpoint store; LOG is the file
where ``delete_file`` writes each path it really deletes (so the test sees every call,
whichever process made it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from smolagents import CodeAgent, LogLevel, RunResult, ToolCallingAgent, tool
from smolagents.checkpoints import SQLiteCheckpointStore
from smolagents.testing import ScriptedModel

TASK = "Delete a.txt"


def replies(kind: str) -> list[Any]:
    """Step 1 deletes a.txt (the call that needs approval), step 2 gives the answer."""
    if kind == "tool_calling":
        return [
            ScriptedModel.tool_call("delete_file", {"path": "a.txt"}, id="call_delete"),
            ScriptedModel.tool_call("final_answer", {"answer": "done"}),
        ]
    return [
        "Thought: delete it.\n<code>\nprint('before')\nresult = delete_file('a.txt')\nprint(result)\n</code>",
        "Thought: done.\n<code>\nfinal_answer('done')\n</code>",
    ]


def make_agent(kind: str, script: list[Any], log: str | Path) -> ToolCallingAgent | CodeAgent:
    @tool(requires_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file.

        Args:
            path: the file to delete.
        """
        with open(log, "a", encoding="utf-8") as file:
            file.write(path + "\n")
        return f"deleted {path}"

    agent_class = ToolCallingAgent if kind == "tool_calling" else CodeAgent
    return agent_class(tools=[delete_file], model=ScriptedModel(script), verbosity_level=LogLevel.OFF)


def main(argv: list[str]) -> None:
    command, kind, db = argv[0], argv[1], argv[2]
    store = SQLiteCheckpointStore(db)
    if command == "run":
        agent = make_agent(kind, replies(kind)[:1], argv[3])
        result = agent.run(TASK, checkpoint=store)  # a paused run returns its RunResult
        assert isinstance(result, RunResult)
        print(json.dumps(result.dict(), default=str))
    elif command == "approve":
        request_id, answer = argv[3], argv[4]
        reason = argv[5] if len(argv) > 5 else None
        make_agent(kind, [], "unused").approve(request_id, answer == "yes", reason, checkpoint=store)
        print("answered")
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
