"""The names the README documents are importable from ``agentdown``, and importing it is cheap."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import agentdown

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Named in the README's prose as part of the API (the stream events, the model client,
# the truncation types): each must be importable as ``from agentdown import <name>``.
DOCUMENTED = {
    "Agent",
    "tool",
    "Session",
    "TextDeltaEvent",
    "ReasoningDeltaEvent",
    "ToolCallStartEvent",
    "ToolCallEndEvent",
    "MessageCompletedEvent",
    "StepCompletedEvent",
    "RunCompletedEvent",
    "RunErrorEvent",
    "OpenAIChatModel",
    "model_from_env",
    "TruncationStrategy",
    "FunctionTool",
    "FunctionInvocationContext",
    "function_middleware",
    "MiddlewareTermination",
    "SKIP_PARSING",
    "ToolError",
    "ConfigurationError",
    "StructuredOutputError",
    "ResumeError",
    "JsonSchema",
    "ResponseExample",
    "ChatModel",
}


def imported_in_docs() -> set[str]:
    """Every name a ``from agentdown import ...`` in a Python block of the README or docs/ imports."""
    names: set[str] = set()
    for path in DOCS:
        for block in re.findall(r"```python\n(.*?)```", path.read_text(), re.DOTALL):
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.ImportFrom) and node.module == "agentdown":
                    names.update(alias.name for alias in node.names)
    return names


def test_every_name_the_docs_import_from_agentdown_is_exported() -> None:
    names = imported_in_docs() | DOCUMENTED
    assert "Agent" in imported_in_docs()  # the parser found the README's example
    missing = sorted(n for n in names if n not in agentdown.__all__)
    assert not missing, f"documented but not exported: {missing}"
    for name in names:
        assert getattr(agentdown, name) is not None


def test_every_export_resolves_and_is_listed_for_type_checkers() -> None:
    source = (ROOT / "src" / "agentdown" / "__init__.py").read_text()
    tree = ast.parse(source)
    typed = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        for inner in node.body
        if isinstance(inner, ast.ImportFrom)
        for alias in inner.names
    }
    assert typed | {"__version__"} == set(agentdown.__all__)
    for name in agentdown.__all__:
        assert getattr(agentdown, name) is not None
    assert set(agentdown.__all__) <= set(dir(agentdown))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        agentdown.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_import_agentdown_loads_nothing_heavy() -> None:
    # A fresh interpreter: what ``import agentdown`` alone pulls in (the lazy names load on use).
    code = (
        "import sys, agentdown; heavy = {'aiohttp', 'pydantic', 'jsonschema', 'agentdown.agent'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_an_agent_without_a_response_format_does_not_load_jsonschema_for_it() -> None:
    code = (
        "import sys; import agentdown.loop.structured as s;"
        "print('jsonschema' in sys.modules); s.OutputSpec({'type': 'object'}); print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "True"]
