"""The management tools called directly: their answers, the per-session cap, terminate, no session."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from wfkit import write_triage_app

from agentdown.app.catalog import AgentCatalog, load_app
from agentdown.messages import Message
from agentdown.runtime.pending import stamp_owner
from agentdown.runtime.workflows import close_workflow_host, ensure_workflow_host, owned_workflow
from agentdown.sessions import Session
from agentdown.testing import ScriptedModel
from agentdown.tools.context import FunctionInvocationContext
from agentdown.workflows.planned.plan import MAX_ACTIVE_WORKFLOWS_PER_SESSION

NAP = {"tasks": [{"id": "nap", "type": "wait", "duration": "PT1H"}]}


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[AgentCatalog]:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "AGENTDOWN_WORKFLOW_EXECUTE": "false"}
    loaded = load_app(write_triage_app(tmp_path), model=ScriptedModel(["ok"]), environ=env)
    yield loaded
    await close_workflow_host(loaded)


async def call(catalog: AgentCatalog, name: str, arguments: dict[str, Any], session: Session | None) -> Any:
    tool = next(t for t in catalog.build_agent("main").tools if t.name == name)
    context = FunctionInvocationContext(tool=tool, arguments=arguments, session=session)
    return json.loads(await tool.invoke(arguments, context))


async def test_each_session_may_run_ten(catalog: AgentCatalog) -> None:
    mine = Session(id="sess-mine")
    for _ in range(MAX_ACTIVE_WORKFLOWS_PER_SESSION):
        assert "workflow_id" in await call(catalog, "start_workflow", NAP, mine)
    refused = await call(catalog, "start_workflow", NAP, mine)
    assert refused == {
        "error": "too many active workflows for this session",
        "active": MAX_ACTIVE_WORKFLOWS_PER_SESSION,
        "limit": MAX_ACTIVE_WORKFLOWS_PER_SESSION,
    }
    assert "workflow_id" in await call(catalog, "start_workflow", NAP, Session(id="sess-other"))
    listed = await call(catalog, "list_workflows", {}, mine)
    assert len(listed["workflows"]) == MAX_ACTIVE_WORKFLOWS_PER_SESSION
    first = listed["workflows"][0]["workflow_id"]
    assert await call(catalog, "terminate_workflow", {"workflow_id": first}, mine) == {
        "workflow_id": first,
        "terminated": True,
    }
    status = await call(catalog, "get_workflow_status", {"workflow_id": first}, mine)
    assert status["runtime_status"] == "Terminated" and status["output"] == "terminated by agent"
    assert "workflow_id" in await call(catalog, "start_workflow", NAP, mine)  # room again


async def test_refusals(catalog: AgentCatalog) -> None:
    assert await call(catalog, "start_workflow", NAP, None) == {
        "error": "workflow tools need a session: this run has none"
    }
    mine = Session(id="sess-mine")
    bad = await call(catalog, "start_workflow", {"tasks": [{"id": "x", "tool": "rm_rf"}]}, mine)
    assert "not workflow-safe" in bad["error"]
    for wid in (None, 42, "", "nope", {"a": 1}):
        answer = await call(catalog, "get_workflow_status", {"workflow_id": wid}, mine)
        assert answer["status"] == 404 and "not found" in answer["error"]
    # Another agent with the same session id does not see it (workflows belong to agent + session).
    started = await call(catalog, "start_workflow", NAP, mine)
    service = (await ensure_workflow_host(catalog)).service
    assert await owned_workflow(service, "writer", "sess-mine", started["workflow_id"]) is None
    assert await owned_workflow(service, "main", "sess-mine", started["workflow_id"]) is not None
    # A session whose turns carry an owner digest records it; another digest does not see the workflow.
    first = Message("user", "hi")
    stamp_owner([first], "digest-alice")
    owned = await call(catalog, "start_workflow", NAP, Session(id="sess-alice", messages=[first]))
    wid = owned["workflow_id"]
    assert await owned_workflow(service, "main", "sess-alice", wid, owner="digest-alice") is not None
    assert await owned_workflow(service, "main", "sess-alice", wid, owner="digest-mallory") is None
    assert await owned_workflow(service, "main", "sess-alice", wid, owner=None) is None
