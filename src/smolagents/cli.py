"""``smolagent``: run an agent from the shell, on a model configured by flags or environment."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["build_model", "main", "parse_arguments"]

DEFAULT_OPENAI_MODEL_ID = "gpt-4o-mini"

NO_MODEL_MESSAGE = """\
smolagent: no model is configured, so there is nothing to run the agent on.

Configure one of these:
  * an OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp, OpenRouter, Gemini...):
        export OPENAI_API_KEY=...            # the server's key
        export OPENAI_BASE_URL=http://...    # optional, for a non-OpenAI server
        smolagent "your task" --model-id <model name>
  * or pass everything as flags:
        smolagent "your task" --model-type OpenAIModel --model-id <model> --api-base <url> --api-key <key>
  * Hugging Face Inference Providers: export HF_TOKEN=... (or --model-type InferenceClientModel)
  * LiteLLM (100+ providers): --model-type LiteLLMModel --model-id <provider/model>

Run `smolagent --help` for every option."""


class NoModelConfigured(Exception):
    """No flag and no environment variable says which model to use."""


def _add_agent_arguments(parser: argparse.ArgumentParser, verbosity: int = 1) -> None:
    """The model and agent flags, shared by the main command and ``smolagent batch``."""
    parser.add_argument(
        "--model-type", default=None, help="Model class, e.g. OpenAIModel, InferenceClientModel."
    )
    parser.add_argument("--model-id", default=None, help="The model's id on its provider.")
    parser.add_argument(
        "--action-type",
        choices=["code", "tool_calling"],
        default="code",
        help="code (CodeAgent, the default) or tool_calling (ToolCallingAgent).",
    )
    parser.add_argument("--tools", nargs="*", default=[], help="Names of default tools, e.g. web_search.")
    parser.add_argument("--imports", nargs="*", default=[], help="Extra imports the CodeAgent may use.")
    parser.add_argument("--provider", default=None, help="Inference provider (InferenceClientModel).")
    parser.add_argument("--api-base", default=None, help="Base URL of the model's API.")
    parser.add_argument("--api-key", default=None, help="API key (defaults to the provider's env variable).")
    parser.add_argument("--max-steps", type=int, default=20, help="Maximum number of steps (default 20).")
    parser.add_argument(
        "--verbosity-level",
        type=int,
        default=verbosity,
        choices=[-1, 0, 1, 2],
        help=f"-1 off, 0 errors, 1 info, 2 debug (default {verbosity}).",
    )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="smolagent",
        description="Run a smolagents agent on a task. With no prompt, starts an interactive session. "
        "`smolagent batch --help` runs many tasks from a JSONL file.",
    )
    parser.add_argument("prompt", nargs="?", default=None, help="The task for the agent.")
    _add_agent_arguments(parser)
    return parser.parse_args(argv)


# Environment variables that name a usable model, in the order they are tried.
ENV_MODEL_TYPES: list[tuple[str, str]] = [
    ("OPENAI_API_KEY", "OpenAIModel"),
    ("OPENAI_BASE_URL", "OpenAIModel"),
    ("AZURE_OPENAI_ENDPOINT", "AzureOpenAIModel"),
    ("HF_TOKEN", "InferenceClientModel"),
    ("AWS_BEARER_TOKEN_BEDROCK", "AmazonBedrockModel"),
]
# Flag -> the parameter names model classes use for it.
FLAG_PARAMETERS = {
    "api_base": ("api_base", "base_url", "azure_endpoint"),
    "api_key": ("api_key",),
    "provider": ("provider",),
}


def _env_model_type() -> str | None:
    for variable, model_type in ENV_MODEL_TYPES:
        if os.environ.get(variable):
            return model_type
    return None


def build_model(
    model_type: str | None,
    model_id: str | None,
    api_base: str | None = None,
    api_key: str | None = None,
    provider: str | None = None,
) -> Any:
    """The model the flags or the environment describe; raises NoModelConfigured if none.

    Flags are mapped onto whatever the chosen class calls them (``--api-base`` becomes
    ``base_url`` for InferenceClientModel and ``azure_endpoint`` for AzureOpenAIModel).
    """
    import inspect

    from . import models

    if model_type is None:
        model_type = "OpenAIModel" if (api_base or api_key) else _env_model_type()
    if model_type is None:
        raise NoModelConfigured(NO_MODEL_MESSAGE)
    model_class = getattr(models, model_type, None)
    if not (isinstance(model_class, type) and issubclass(model_class, models.Model)):
        known = sorted(n for n in models.__all__ if n.endswith("Model") and n not in {"Model", "ApiModel"})
        raise NoModelConfigured(
            f"smolagent: unknown --model-type {model_type!r}. Known model types: {known}."
        )
    parameters = inspect.signature(model_class.__init__).parameters
    kwargs: dict[str, Any] = {}
    for flag, value in {"api_base": api_base, "api_key": api_key, "provider": provider}.items():
        if value is None:
            continue
        target = next((name for name in FLAG_PARAMETERS[flag] if name in parameters), None)
        if target is None:
            raise NoModelConfigured(f"smolagent: {model_type} does not take --{flag.replace('_', '-')}.")
        kwargs[target] = value
    model_id = model_id or os.environ.get("SMOLAGENTS_MODEL_ID")
    if model_type in {"OpenAIModel", "OpenAIServerModel"}:
        model_id = model_id or DEFAULT_OPENAI_MODEL_ID
        if "api_key" not in kwargs and not os.environ.get("OPENAI_API_KEY"):
            if not (api_base or os.environ.get("OPENAI_BASE_URL")):
                raise NoModelConfigured(NO_MODEL_MESSAGE)
            kwargs["api_key"] = "not-needed"  # local OpenAI-compatible servers often need no key
    if model_id is not None:
        kwargs["model_id"] = model_id
    elif "model_id" in parameters and parameters["model_id"].default is inspect.Parameter.empty:
        raise NoModelConfigured(
            f"smolagent: {model_type} needs a model id: pass --model-id or set SMOLAGENTS_MODEL_ID."
        )
    return model_class(**kwargs)


def _build_agent(args: argparse.Namespace, model: Any) -> Any:
    from .default_tools import TOOL_MAPPING

    tools = []
    for name in args.tools:
        if name not in TOOL_MAPPING:
            raise SystemExit(f"smolagent: unknown tool {name!r}. Available tools: {sorted(TOOL_MAPPING)}.")
        tools.append(TOOL_MAPPING[name]())
    common = {
        "tools": tools,
        "model": model,
        "verbosity_level": args.verbosity_level,
        "max_steps": args.max_steps,
    }
    if args.action_type == "tool_calling":
        from .agents import ToolCallingAgent

        return ToolCallingAgent(**common)
    from .agents import CodeAgent

    return CodeAgent(additional_authorized_imports=args.imports, **common)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["batch"]:
        from .batch._cli import batch_main

        return batch_main(argv[1:])
    args = parse_arguments(argv)
    if args.prompt is None and sys.stdin.isatty() and sys.stdout.isatty():
        try:
            model = _interactive_setup(args)
        except (EOFError, KeyboardInterrupt):
            print()
            return 1
    else:
        try:
            model = build_model(args.model_type, args.model_id, args.api_base, args.api_key, args.provider)
        except NoModelConfigured as exc:
            print(str(exc), file=sys.stderr)
            return 2
    agent = _build_agent(args, model)
    if args.prompt is not None:
        print(agent.run(args.prompt))
        return 0
    print("smolagent interactive session: type a task, or an empty line / Ctrl-D to quit.")
    first = True
    while True:
        try:
            task = input("smolagent> ").strip()
        except EOFError:
            break
        if not task:
            break
        print(agent.run(task, reset=first))
        first = False
    return 0


def _interactive_setup(args: argparse.Namespace) -> Any:
    """In a terminal with no task given: ask for the agent type, the model (when none is
    configured) and the tools, re-asking after a bad answer. Returns the model."""
    from rich.console import Console
    from rich.prompt import Prompt

    from . import models
    from .default_tools import TOOL_MAPPING

    console = Console()
    console.print("[bold]smolagent[/bold] interactive setup — press Enter to keep the value in brackets.")
    args.action_type = Prompt.ask("Agent type", choices=["code", "tool_calling"], default=args.action_type)
    known = sorted(n for n in models.__all__ if n.endswith("Model") and n not in {"Model", "ApiModel"})
    while True:
        try:
            model = build_model(args.model_type, args.model_id, args.api_base, args.api_key, args.provider)
            break
        except NoModelConfigured as exc:
            console.print(f"[red]{str(exc).splitlines()[0]}[/red]")
            console.print("Tell me which model to use:")
            args.model_type = Prompt.ask("Model type", choices=known, default="OpenAIModel")
            args.model_id = Prompt.ask("Model id", default=args.model_id or DEFAULT_OPENAI_MODEL_ID)
            args.api_base = Prompt.ask("API base URL (empty: the provider's default)", default="") or None
            args.api_key = (
                Prompt.ask("API key (empty: from the environment)", password=True, default="") or None
            )
        except Exception as exc:  # the model class refused the settings: say why and ask again
            console.print(f"[red]The model could not be created: {type(exc).__name__}: {exc}[/red]")
            args.model_type = None
    console.print(f"Model: [bold]{type(model).__name__}[/bold] {getattr(model, 'model_id', '') or ''}")
    available = sorted(TOOL_MAPPING)
    while True:
        answer = Prompt.ask(
            f"Tools, separated by spaces or commas (from {available})", default=" ".join(args.tools)
        )
        names = [name for name in answer.replace(",", " ").split() if name]
        unknown = [name for name in names if name not in TOOL_MAPPING]
        if not unknown:
            args.tools = names
            return model
        console.print(f"[red]Unknown tool(s) {unknown}. Available tools: {available}.[/red]")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
