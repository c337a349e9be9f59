"""``workflows: {enabled: true}``: the workflow tools discovery collects, the agent's tools and its prompt."""

from __future__ import annotations

import pytest
from apphelpers import MakeApp

from agentdown.app import load_app
from agentdown.app import workflow_tools as hook
from agentdown.app.catalog import check_app
from agentdown.app.workflow_tools import workflow_policy, workflow_setup
from agentdown.exceptions import ConfigurationError
from agentdown.runtime import workflows as _workflows  # noqa: F401  (registers the tool factory)
from agentdown.testing import ScriptedModel

AGENT = """---
name: Ops
description: Operates things.
workflows:
  enabled: true
  exclude: [restart]
  subagents:
    - agent: scribe
      when: Writes things down.
---
Operate.
"""
SCRIBE = "---\nname: Scribe\ndescription: Writes.\n---\nWrite.\n"
PLAIN = "---\nname: Plain\ndescription: No workflows.\n---\nHi.\n"
TOOLS = '''
from typing import Any

from agentdown import tool
from azure_functions_agents import workflow_tool


@workflow_tool(description="Check a host. Args: {host: str}.")
def check(args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}


@workflow_tool(name="restart")
def restart_host(args: dict[str, Any]) -> dict[str, Any]:
    """Restart a host."""
    return {}


@workflow_tool(public=False)
def internal(args: dict[str, Any]) -> dict[str, Any]:
    return {}


@workflow_tool
@tool
def ping(host: str) -> str:
    """Ping a host."""
    return "pong"
'''


def test_the_agent_gets_the_management_tools_and_the_addendum(make_app: MakeApp) -> None:
    app = make_app(
        {"ops.agent.md": AGENT, "scribe.agent.md": SCRIBE, "plain.agent.md": PLAIN, "tools/ops.py": TOOLS}
    )
    catalog = load_app(app, model=ScriptedModel(["ok"]), environ={})
    assert {t.name for t in catalog.workflow_tools} == {"check", "restart", "internal", "ping"}
    # A marked @tool is an agent tool too; marked plain functions are not.
    assert [t.name for t in catalog.tools] == ["ping"]
    policy = workflow_policy(catalog, catalog["ops"])
    assert policy.allowed_tools == {"check", "ping"}  # minus exclude, minus private
    assert policy.allowed_subagents == {"scribe"}
    agent = catalog.build_agent("ops")
    names = [t.name for t in agent.tools]
    assert names[-5:] == [
        "start_workflow",
        "get_workflow_status",
        "list_workflows",
        "cancel_workflow",
        "terminate_workflow",
    ]
    instructions = agent.instructions or ""
    assert instructions.startswith("Operate.")
    assert "### Available workflow tools" in instructions
    assert "- `check` — Check a host. Args: {host: str}." in instructions
    assert "- `ping` — Ping a host." in instructions
    assert "restart" not in instructions and "internal" not in instructions
    assert "- `scribe` — Writes things down." in instructions
    plain = catalog.build_agent("plain")
    assert "start_workflow" not in [t.name for t in plain.tools]
    assert "workflow" not in (plain.instructions or "")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from azure_functions_agents import workflow_tool\n\n@workflow_tool\ndef start_workflow(args):\n    return {}\n",
            "workflow tool name 'start_workflow' is reserved",
        ),
        (
            "from azure_functions_agents import workflow_tool\n\n@workflow_tool(name='a b')\ndef x(args):\n    return {}\n",
            "workflow tool name 'a b' must match",
        ),
        (
            "from azure_functions_agents import workflow_tool\n\n"
            "@workflow_tool(name='same')\ndef x(args):\n    return {}\n\n"
            "@workflow_tool(name='same')\ndef y(args):\n    return {}\n",
            "workflow tool 'same' is already defined at",
        ),
    ],
)
def test_bad_workflow_tools_are_errors_at_their_line(make_app: MakeApp, source: str, message: str) -> None:
    app = make_app({"ops.agent.md": AGENT, "scribe.agent.md": SCRIBE, "tools/bad.py": source})
    catalog, problems = check_app(app, environ={})
    assert catalog is None
    assert any(message in p.message and p.line > 0 for p in problems.errors), [str(p) for p in problems]


def test_without_the_runtime_a_workflow_agent_cannot_be_built(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app({"ops.agent.md": AGENT, "scribe.agent.md": SCRIBE})
    catalog = load_app(app, model=ScriptedModel(["ok"]), environ={})
    monkeypatch.setattr(hook, "_factory", [])
    with pytest.raises(ConfigurationError, match=r"import agentdown\.runtime\.workflows"):
        workflow_setup(catalog, catalog["ops"])
