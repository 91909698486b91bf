"""Console logging of agent runs (rich), plus the monitoring records re-exported.

rich is imported when a logger is created, not when smolagents is imported.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._monitoring_types import LogLevel, Timing, TokenUsage
from .errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["YELLOW_HEX", "AgentLogger", "LogLevel", "Timing", "TokenUsage"]

YELLOW_HEX = "#d4b702"


class AgentLogger:
    """Prints a run the way the docs show it: a "New run" panel, a rule per step, the
    actions, observations and errors, and a per-step line with duration and tokens.

    ``LogLevel.OFF`` prints nothing. Pass ``console`` to capture output (tests, UIs).
    """

    def __init__(self, level: LogLevel | int = LogLevel.INFO, console: Console | None = None) -> None:
        if isinstance(level, bool) or not isinstance(level, int):
            raise UserError(
                f"verbosity_level must be an int or a LogLevel (-1 off ... 2 debug; higher is more verbose), "
                f"got {level!r}."
            )
        # any int is accepted, as code written for smolagents passes e.g. 3 or 10 for "everything"
        self.level = LogLevel(max(int(LogLevel.OFF), min(int(level), int(LogLevel.DEBUG))))
        self._console = console

    @property
    def console(self) -> Console:
        """The rich console printed to; made on first use (rich loads only when a run logs)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return self._console

    @console.setter
    def console(self, value: Console) -> None:
        self._console = value

    def _enabled(self, level: LogLevel | int) -> bool:
        return self.level != LogLevel.OFF and int(level) <= int(self.level)

    def log(self, *args: Any, level: LogLevel | int = LogLevel.INFO, **kwargs: Any) -> None:
        if self._enabled(level):
            self.console.print(*args, **kwargs)

    def log_error(self, error_message: str, level: LogLevel | int = LogLevel.ERROR) -> None:
        if not self._enabled(level):
            return
        from rich.text import Text

        self.log(Text(error_message, style="bold red"), level=level)

    def log_markdown(
        self,
        content: str,
        title: str | None = None,
        level: LogLevel | int = LogLevel.INFO,
        style: str = YELLOW_HEX,
    ) -> None:
        if not self._enabled(level):
            return
        from rich.rule import Rule
        from rich.syntax import Syntax

        markdown = Syntax(content, lexer="markdown", theme="github-dark", word_wrap=True)
        if title:
            self.console.print(Rule(f"[bold italic]{title}", align="left", style=style))
        self.console.print(markdown)

    def log_code(self, title: str, content: str, level: LogLevel | int = LogLevel.INFO) -> None:
        if not self._enabled(level):
            return
        from rich.panel import Panel
        from rich.syntax import Syntax

        self.console.print(
            Panel(
                Syntax(content, lexer="python", theme="monokai", word_wrap=True, line_numbers=True),
                title=f"[bold]{title}",
                title_align="left",
                box=_heavy_box(),
            )
        )

    def log_rule(self, title: str, level: LogLevel | int = LogLevel.INFO) -> None:
        if not self._enabled(level):
            return
        from rich.rule import Rule

        self.console.print(Rule(f"[bold]{title}", characters="━", style=YELLOW_HEX))

    def log_task(
        self, content: Any, subtitle: str, title: str | None = None, level: LogLevel | int = LogLevel.INFO
    ) -> None:
        if not self._enabled(level):
            return
        from rich.panel import Panel
        from rich.text import Text

        self.console.print(
            Panel(
                f"\n[bold]{_escape(_task_text(content))}\n",
                title="[bold]New run" + (f" - {title}" if title else ""),
                subtitle=Text(subtitle),
                border_style=YELLOW_HEX,
                subtitle_align="left",
            )
        )

    def log_messages(self, messages: list[Any], level: LogLevel | int = LogLevel.DEBUG) -> None:
        if not self._enabled(level):
            return
        from rich.syntax import Syntax

        as_dicts = [m.dict() if hasattr(m, "dict") else m for m in messages]
        text = json.dumps(as_dicts, indent=2, default=repr, ensure_ascii=False)
        self.console.print(Syntax(text, lexer="json", theme="github-dark", word_wrap=True))

    def log_step_footer(
        self,
        step_number: int,
        duration: float | None,
        token_usage: TokenUsage | None,
        level: LogLevel | int = LogLevel.INFO,
    ) -> None:
        """The per-step line: ``[Step N: Duration x seconds| Input tokens: n | Output tokens: m]``."""
        if not self._enabled(level):
            return
        parts = [f"Step {step_number}: Duration {duration or 0.0:.2f} seconds"]
        if token_usage is not None:
            parts.append(
                f" Input tokens: {token_usage.input_tokens:,} | Output tokens: {token_usage.output_tokens:,}"
            )
        self.log(f"[{'|'.join(parts)}]", style="dim", level=level)

    def visualize_agent_tree(self, agent: Any) -> None:
        """Print the agent, its tools and its managed agents as a tree."""
        from rich.tree import Tree

        def add_agent(node: Tree, a: Any) -> None:
            tools = node.add(f"[bold {YELLOW_HEX}]Tools")
            for name, tool in getattr(a, "tools", {}).items():
                inputs = ", ".join(getattr(tool, "inputs", {}) or {})
                tools.add(f"{name}({inputs}): {getattr(tool, 'description', '')}")
            managed = getattr(a, "managed_agents", {}) or {}
            if managed:
                team = node.add(f"[bold {YELLOW_HEX}]Managed agents")
                for name, sub in managed.items():
                    sub_node = team.add(
                        f"[bold]{name}[/] | {type(sub).__name__}: {getattr(sub, 'description', '')}"
                    )
                    add_agent(sub_node, sub)

        model_id = getattr(getattr(agent, "model", None), "model_id", None)
        root = Tree(f"[bold {YELLOW_HEX}]{agent.name or type(agent).__name__}[/] | {model_id}")
        add_agent(root, agent)
        self.console.print(root)


def _task_text(content: Any) -> str:
    """A task as text for the "New run" panel: a string as is, message parts (text and
    images) by their text, anything else by ``str()`` (never a crash in a log call)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        texts = [
            str(p.get("text", "")) if p.get("type") == "text" else f"<{p.get('type', 'part')}>"
            for p in content
        ]
        return "\n".join(texts)
    from .memory import safe_text

    return safe_text(content, as_str=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _heavy_box() -> Any:
    from rich import box

    return box.HORIZONTALS
