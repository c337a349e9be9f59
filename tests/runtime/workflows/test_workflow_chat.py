"""A planned workflow from a Markdown agent, end to end through the chat API (embedded queue and store).

The fake model plans the other runtime's incident-triage shape: three parallel fetches,
a check that fails once and is retried, a wait, a sub-agent and a summary. The plan runs
on the server's own consumer; the chat client follows it with the status routes, then
posts the ``<workflow-notification>`` turn and the agent summarises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from serverkit import live_server, post_json
from wfkit import marks, model, wait_for, write_triage_app

from agentdown.workflows.planned.ownership import session_prefix


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    marker = tmp_path / "marks.txt"
    monkeypatch.setenv("MARKER_FILE", str(marker))  # the tools run in this process
    return {
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AGENTDOWN_WORKFLOW_POLL_SECONDS": "0.1",
        "MARKER_FILE": str(marker),
    }


async def get_json(http: aiohttp.ClientSession, url: str, session_id: str | None = None) -> tuple[int, Any]:
    headers = {"x-ms-session-id": session_id} if session_id else {}
    async with http.get(url, headers=headers) as response:
        return response.status, json.loads(await response.text())


async def chat(http: aiohttp.ClientSession, url: str, prompt: str, session_id: str | None = None) -> Any:
    headers = {"x-ms-session-id": session_id} if session_id else None
    status, _, body = await post_json(http, f"{url}/agents/main/chat", {"prompt": prompt}, headers)
    assert status == 200, body
    return body


async def test_the_triage_workflow_runs_and_the_agent_summarises_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    app = write_triage_app(tmp_path)
    marker = Path(env["MARKER_FILE"])
    async with live_server(app, model, environ=env) as live, aiohttp.ClientSession() as http:
        started = await chat(http, live.url, "triage checkout")
        session_id = started["session_id"]
        [call] = started["tool_calls"]
        assert call["tool_name"] == "start_workflow"
        workflow_id = json.loads(call["result"])["workflow_id"]
        assert started["response"] == f"Started workflow {workflow_id}."
        assert workflow_id.startswith(session_prefix(session_id) + "-")

        status_url = f"{live.url}/agents/main/workflow-status?workflow_id={workflow_id}"

        async def ended() -> bool:
            code, body = await get_json(http, status_url, session_id)
            assert code == 200, body
            return bool(body["runtime_status"] != "Running")

        await wait_for(ended, 60, "the workflow to end")
        code, view = await get_json(http, status_url, session_id)
        assert view["runtime_status"] == "Completed", view
        assert view["custom_status"] == "7/7 tasks done"
        summary = view["output"]["results"]["summary"]
        assert summary["service"] == "checkout" and summary["healthy"] is False
        # The writer ran fresh: it saw its system prompt and the resolved task, nothing of the chat.
        assert summary["report"] == "REPORT: Write the report for checkout: 7 errors. (2 messages seen)"
        tasks = {t["id"]: t for t in view["tasks"]}
        assert tasks["check"]["attempts"] == 2 and tasks["check"]["status"] == "succeeded"
        assert tasks["settle"]["type"] == "wait" and tasks["settle"]["status"] == "succeeded"
        assert sorted(marks(marker)) == sorted(
            [
                "fetch_logs",
                "fetch_metrics",
                "fetch_deploys",
                "flaky_check",
                "flaky_check",
                "summarize_findings",
            ]
        )
        assert "<workflow-id>" + workflow_id in view["notification"].replace("\n", "").replace(" ", "")

        code, listed = await get_json(http, f"{live.url}/agents/main/workflows", session_id)
        assert code == 200 and [w["workflow_id"] for w in listed["workflows"]] == [workflow_id]
        assert set(listed["workflows"][0]) >= {
            "workflow_id",
            "runtime_status",
            "custom_status",
            "output",
            "created_time",
            "last_updated_time",
            "tasks",
        }

        # The chat client's notification turn: the agent fetches the status once and summarises.
        summarised = await chat(http, live.url, view["notification"], session_id)
        assert [c["tool_name"] for c in summarised["tool_calls"]] == ["get_workflow_status"]
        envelope = json.loads(summarised["tool_calls"][0]["result"])
        assert set(envelope) == {
            "workflow_id",
            "runtime_status",
            "custom_status",
            "output",
            "created_time",
            "last_updated_time",
        }
        assert summarised["response"].startswith("Summary: Completed: ")

        listed_by_tool = await chat(http, live.url, "list my workflows", session_id)
        answer = json.loads(listed_by_tool["tool_calls"][0]["result"])
        assert [w["workflow_id"] for w in answer["workflows"]] == [workflow_id]


async def test_cancel_stops_a_waiting_workflow_and_keeps_partial_results(
    tmp_path: Path, env: dict[str, str]
) -> None:
    app = write_triage_app(tmp_path)
    marker = Path(env["MARKER_FILE"])
    async with live_server(app, model, environ=env) as live, aiohttp.ClientSession() as http:
        started = await chat(http, live.url, "triage payments wait PT1H")
        session_id = started["session_id"]
        workflow_id = json.loads(started["tool_calls"][0]["result"])["workflow_id"]
        status_url = f"{live.url}/agents/main/workflow-status?workflow_id={workflow_id}"

        async def waiting() -> bool:
            _, body = await get_json(http, status_url, session_id)
            return {t["id"]: t["status"] for t in body["tasks"]}.get("settle") == "running"

        await wait_for(waiting, 30, "the wait to start")
        cancelled = await chat(http, live.url, f"cancel {workflow_id}", session_id)
        assert json.loads(cancelled["tool_calls"][0]["result"]) == {
            "workflow_id": workflow_id,
            "cancel_requested": True,
        }
        _, view = await get_json(http, status_url, session_id)
        assert view["runtime_status"] == "Canceled"
        assert view["output"]["canceled"] is True and view["output"]["reason"] == "user asked"
        assert view["output"]["results"]["fetch_logs"]["service"] == "payments"
        assert {t["id"]: t["status"] for t in view["tasks"]}["summary"] == "cancelled"
        assert "summarize_findings" not in marks(marker)
        # A second cancel is not an error; the workflow stays canceled.
        again = await chat(http, live.url, f"cancel {workflow_id}", session_id)
        assert json.loads(again["tool_calls"][0]["result"])["cancel_requested"] is True
        _, view = await get_json(http, status_url, session_id)
        assert view["runtime_status"] == "Canceled"


async def test_plans_are_validated_before_anything_runs(tmp_path: Path, env: dict[str, str]) -> None:
    app = write_triage_app(tmp_path)
    marker = Path(env["MARKER_FILE"])
    async with live_server(app, model, environ=env) as live, aiohttp.ClientSession() as http:
        # page_oncall is a workflow tool, but workflows.exclude leaves it out of plans.
        plan = {
            "tasks": [{"id": "page", "tool": "page_oncall"}, {"id": "x", "tool": "fetch_logs", "args": {}}]
        }
        body = await chat(http, live.url, "plan " + json.dumps(plan))
        answer = json.loads(body["tool_calls"][0]["result"])
        assert "page_oncall" in answer["error"] and "not workflow-safe" in answer["error"]
        code, listed = await get_json(http, f"{live.url}/agents/main/workflows", body["session_id"])
        assert code == 200 and listed == {"workflows": []}
        assert marks(marker) == []
