"""Saving tools: notebook cells, __init__ arguments, and names imported outside the function."""

from __future__ import annotations

import linecache
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from smolagents.errors import UserError
from smolagents.tools import Tool, tool

if TYPE_CHECKING:
    from decimal import Decimal

# ----------------------------------------------------------------- Jupyter cells

CELL = """
import json
from smolagents import Tool

PREFIX = "cell:"


class CellTool(Tool):
    name = "cell_tool"
    description = "Dumps its input as JSON."
    inputs = {"x": {"type": "string", "description": "what to dump"}}
    output_type = "string"

    def forward(self, x: str) -> str:
        return PREFIX + json.dumps(x)
"""


@pytest.fixture
def notebook() -> Iterator[types.ModuleType]:
    """A module shaped like IPython's ``__main__``: no ``__file__``, cells in ``linecache``."""
    filename = "<ipython-input-3-0a1b2c3d>"
    linecache.cache[filename] = (len(CELL), None, CELL.splitlines(keepends=True), filename)
    module = types.ModuleType("notebook_main")
    sys.modules[module.__name__] = module
    exec(compile(CELL, filename, "exec"), module.__dict__)
    try:
        yield module
    finally:
        sys.modules.pop(module.__name__, None)
        linecache.cache.pop(filename, None)


def test_tool_class_defined_in_a_notebook_cell_can_be_saved(
    notebook: types.ModuleType, tmp_path: Path
) -> None:
    cell_tool = notebook.CellTool()
    data = cell_tool.to_dict()
    assert "class CellTool(Tool):" in data["code"]
    assert "import json" in data["code"] and "PREFIX = 'cell:'" in data["code"]
    cell_tool.save(tmp_path)
    loaded = Tool.from_code((tmp_path / "tool.py").read_text())
    assert loaded(x="a") == 'cell:"a"'


IPYTHON_SESSION = """
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
for cell in CELLS:
    result = shell.run_cell(cell)
    if not result.success:
        raise SystemExit(f"cell failed: {result.error_in_exec or result.error_before_exec}")
"""


def test_tool_class_defined_in_a_real_ipython_shell_can_be_saved(tmp_path: Path) -> None:
    import IPython  # noqa: F401  (in the test extra: fail if missing, never skip)

    cells = [
        "import inspect, json\nfrom smolagents import Tool",
        CELL.split("import json\nfrom smolagents import Tool\n", 1)[1],
        "try:\n    inspect.getsource(CellTool)\nexcept (OSError, TypeError):\n    print('inspect cannot')",
        "print(Tool.from_code(CellTool().to_dict()['code'])(x='a'))",
    ]
    script = tmp_path / "session.py"
    script.write_text(f"CELLS = {cells!r}\n{IPYTHON_SESSION}")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["inspect", "cannot", 'cell:"a"']


def test_notebook_class_found_in_ipython_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cells no longer in linecache (and classes without methods of their own) come from the
    shell's input history."""
    source = (
        "from smolagents import Tool\n\n"
        "class Base(Tool):\n"
        "    name = 'base'\n"
        "    description = 'Echoes.'\n"
        "    inputs = {'x': {'type': 'string', 'description': 'x'}}\n"
        "    output_type = 'string'\n\n"
        "    def forward(self, x: str) -> str:\n"
        "        return x\n"
    )
    module = types.ModuleType("history_main")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(source, "<ipython-input-9-gone>", "exec"), module.__dict__)
    shell = types.SimpleNamespace(
        history_manager=types.SimpleNamespace(input_hist_parsed=["", "%who", source])
    )
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    loaded = Tool.from_dict(module.Base().to_dict())
    assert loaded(x="hi") == "hi"


def test_exec_code_without_any_source_still_fails_clearly() -> None:
    module = types.ModuleType("nowhere_main")
    sys.modules[module.__name__] = module
    try:
        exec(
            compile(
                "from smolagents import Tool\n"
                "class Lost(Tool):\n"
                "    name = 'lost'\n"
                "    description = 'd'\n"
                "    inputs = {}\n"
                "    output_type = 'string'\n"
                "    def forward(self) -> str:\n"
                "        return ''\n",
                "<string>",
                "exec",
            ),
            module.__dict__,
        )
        with pytest.raises(UserError, match="the source of 'Lost' is not available"):
            module.Lost().to_dict()
    finally:
        sys.modules.pop(module.__name__, None)


# ----------------------------------------------------------------- __init__ arguments


class RetrieverTool(Tool):
    name = "retriever"
    description = "Retrieves documents."
    inputs = {"query": {"type": "string", "description": "The query."}}
    output_type = "string"

    def __init__(self, docs: list[str], top_k: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.docs, self.top_k = docs, top_k

    def forward(self, query: str) -> str:
        return "\n".join([doc for doc in self.docs if query in doc][: self.top_k])


class DefaultedInitTool(Tool):
    name = "defaulted"
    description = "Has an __init__ whose parameters all have defaults."
    inputs = {"query": {"type": "string", "description": "The query."}}
    output_type = "string"

    def __init__(self, suffix: str = "!") -> None:
        super().__init__()
        self.suffix = suffix

    def forward(self, query: str) -> str:
        return query + self.suffix


def test_to_dict_refuses_required_init_parameters(tmp_path: Path) -> None:
    retriever = RetrieverTool(["a cat"])
    assert retriever("cat") == "a cat"
    with pytest.raises(UserError) as info:
        retriever.to_dict()
    message = str(info.value)
    assert "'retriever'" in message
    assert "RetrieverTool.__init__ has required parameters ['docs']" in message
    assert "default values" in message
    with pytest.raises(UserError, match=r"required parameters \['docs'\]"):
        retriever.save(tmp_path)


def test_to_dict_accepts_init_with_defaults() -> None:
    assert Tool.from_dict(DefaultedInitTool().to_dict())("hi") == "hi!"


# ----------------------------------------------------------------- names imported elsewhere


def test_import_in_enclosing_function_is_carried_along() -> None:
    import json as encoder
    from textwrap import shorten

    class Encode(Tool):
        name = "encode"
        description = "Encodes a value as short JSON."
        inputs = {"value": {"type": "string", "description": "the value"}}
        output_type = "string"

        def forward(self, value: str) -> str:
            return shorten(encoder.dumps(value), 40)

    @tool
    def encode_fn(value: str) -> str:
        """Encodes a value as JSON.

        Args:
            value: the value.
        """
        return encoder.dumps(value)

    for original in (Encode(), encode_fn):
        code = original.to_dict()["code"]
        assert "import json as encoder" in code
        rebuilt = Tool.from_code(code)
        assert rebuilt(value="x") == '"x"'
    assert "from textwrap import shorten" in Encode().to_dict()["code"]


def test_name_defined_nowhere_is_refused_by_name() -> None:
    class Late(Tool):
        name = "late"
        description = "Uses a helper that is defined nowhere."
        inputs = {"x": {"type": "string", "description": "x"}}
        output_type = "string"

        def forward(self, x: str) -> str:
            return undefined_helper(x)  # noqa: F821 - the point of the test

    with pytest.raises(UserError) as info:
        Late().to_dict()
    message = str(info.value)
    assert "'Late' uses ['undefined_helper']" in message
    assert "NameError" in message


def test_names_used_only_in_annotations_need_not_exist() -> None:
    class Money(Tool):
        name = "money"
        description = "Formats an amount."
        inputs = {"amount": {"type": "number", "description": "the amount"}}
        output_type = "string"

        def forward(self, amount: Decimal) -> str:
            return f"{amount:.2f}"

    code = Money().to_dict()["code"]
    assert code.startswith("from __future__ import annotations\n")
    assert Tool.from_code(code)(amount=2) == "2.00"


def test_packaged_tool_with_relative_imports_round_trips() -> None:
    from smolagents.default_tools import PythonInterpreterTool

    code = PythonInterpreterTool().to_dict()["code"]
    assert "from smolagents.local_python_executor import LocalPythonExecutor" in code
    assert "from ." not in code
    assert Tool.from_code(code)(code="print(6 * 7)").startswith("Stdout:\n42")
