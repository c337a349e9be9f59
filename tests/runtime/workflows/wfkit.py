"""An incident-triage app (the other runtime's sample shape) and a fake model that plans its workflows."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentdown.messages import Message
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call

MAIN = """---
name: Incident Triage Assistant
description: Investigates production incidents with workflows.
builtin_endpoints: true
workflows:
  enabled: true
  exclude: [page_oncall]
  subagents:
    - agent: writer
      when: Writes the incident report from the findings.
---
You are an incident-triage assistant. Drive the evidence gathering as a workflow.
"""

WRITER = """---
name: Report writer
description: Writes incident reports.
---
Write a short incident report.
"""

TOOLS = """
import os
from typing import Any

from azure_functions_agents import workflow_tool


def _mark(name: str) -> None:
    with open(os.environ["MARKER_FILE"], "a") as f:
        f.write(f"{name} {os.getpid()}\\n")


@workflow_tool(description="Fetch recent log lines for a service. Args: {service: str}.")
def fetch_logs(args: dict[str, Any]) -> dict[str, Any]:
    _mark("fetch_logs")
    return {"service": args["service"], "errors": 7, "lines": ["[ERROR] upstream timeout"]}


@workflow_tool(description="Fetch p99 metrics for a service. Args: {service: str}.")
async def fetch_metrics(args: dict[str, Any]) -> dict[str, Any]:
    _mark("fetch_metrics")
    return {"service": args["service"], "cpu_p99": 91.5, "saturation": "high"}


@workflow_tool(description="Fetch recent deploys for a service. Args: {service: str}.")
def fetch_deploys(args: dict[str, Any]) -> dict[str, Any]:
    _mark("fetch_deploys")
    return {"service": args["service"], "deploys": [{"id": "rev-1", "minutes_ago": 12}]}


@workflow_tool(description="Check the service health; fails once, then answers.")
def flaky_check(args: dict[str, Any]) -> dict[str, Any]:
    _mark("flaky_check")
    counter = os.environ["MARKER_FILE"] + ".flaky"
    seen = os.path.exists(counter)
    open(counter, "a").close()
    if not seen:
        raise RuntimeError("transient: health endpoint timed out")
    return {"healthy": False}


@workflow_tool(description="Summarize the findings into a report.")
def summarize_findings(args: dict[str, Any]) -> dict[str, Any]:
    _mark("summarize_findings")
    return {
        "service": args["logs"]["service"],
        "likely_cause": "bad deploy" if args["deploys"]["deploys"] else "load",
        "report": args["report"],
        "healthy": args["check"]["healthy"],
    }


@workflow_tool(description="Page the on-call engineer (excluded from plans).")
def page_oncall(args: dict[str, Any]) -> dict[str, Any]:
    _mark("page_oncall")
    return {"paged": True}
"""


def triage_plan(service: str, wait: str = "PT1S") -> dict[str, Any]:
    """Three parallel fetches, a retried check, a wait, a sub-agent and a summary."""
    fetches = ["fetch_logs", "fetch_metrics", "fetch_deploys"]
    return {
        "tasks": [
            *({"id": f, "tool": f, "args": {"service": service}} for f in fetches),
            {
                "id": "check",
                "tool": "flaky_check",
                "retry": {"max_attempts": 3, "first_interval": "PT0.2S"},
            },
            {"id": "settle", "type": "wait", "duration": wait, "depends_on": fetches},
            {
                "id": "write",
                "type": "sub_agent",
                "agent": "writer",
                "task": "Write the report for ${fetch_logs.result.service}: ${fetch_logs.result.errors} errors.",
                "depends_on": ["settle", "fetch_logs"],
            },
            {
                "id": "summary",
                "tool": "summarize_findings",
                "args": {
                    "logs": "${fetch_logs.result}",
                    "metrics": "${fetch_metrics.result}",
                    "deploys": "${fetch_deploys.result}",
                    "check": "${check.result}",
                    "report": "${write.result.text}",
                },
                "depends_on": [*fetches, "check", "write"],
            },
        ]
    }


_WORKFLOW_ID = re.compile(r"[0-9a-f]{12}-[0-9a-f]{32}")


def model(messages: list[Message], info: CallInfo) -> Any:
    """The triage agent and its report writer, as the fake model server plays them."""
    names = {t.name for t in info.tools}
    last = messages[-1]
    if "start_workflow" not in names:  # the writer sub-agent, run fresh on its task only
        return f"REPORT: {last.text} ({len(messages)} messages seen)"
    if last.role == "tool":
        text = last.tool_results[0].text or ""
        try:
            answer = json.loads(text)
        except ValueError:
            return f"tool said: {text}"
        if isinstance(answer, dict) and set(answer) == {"workflow_id"}:
            return f"Started workflow {answer['workflow_id']}."
        if isinstance(answer, dict) and "runtime_status" in answer:
            return f"Summary: {answer['runtime_status']}: {json.dumps(answer['output'])}"
        return f"tool said: {text}"
    prompt = last.text or ""
    if prompt.startswith("triage "):
        wait = "PT1S"
        if " wait " in prompt:
            wait = prompt.split(" wait ", 1)[1].split()[0]
        return ToolCalls(tool_call("start_workflow", triage_plan(prompt.split()[1], wait)))
    if prompt.startswith("plan "):
        return ToolCalls(tool_call("start_workflow", json.loads(prompt[5:])))
    found = _WORKFLOW_ID.search(prompt)
    if prompt.startswith("cancel ") and found:
        return ToolCalls(
            tool_call("cancel_workflow", {"workflow_id": found.group(0), "reason": "user asked"})
        )
    if prompt.startswith("list"):
        return ToolCalls(tool_call("list_workflows", {}))
    if found:  # "status <id>" or a <workflow-notification>
        return ToolCalls(tool_call("get_workflow_status", {"workflow_id": found.group(0)}))
    return "How can I help with the incident?"


def write_triage_app(root: Path) -> Path:
    app = root / "app"
    (app / "agents").mkdir(parents=True)
    (app / "tools").mkdir()
    (app / "main.agent.md").write_text(MAIN)
    (app / "agents" / "writer.agent.md").write_text(WRITER)
    (app / "tools" / "incident_tools.py").write_text(TOOLS)
    return app


def marks(marker: Path) -> list[str]:
    """The tool names in the marker file, one per run."""
    if not marker.exists():
        return []
    return [line.split()[0] for line in marker.read_text().splitlines() if line.strip()]


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
