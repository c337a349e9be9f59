"""Durable workflow steps join the trace of the request (or turn) that started the run, though
they execute later, from queue jobs, in consumer tasks that carry no context of their own."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from otelkit import Otel, parent_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "workflows"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "workflow_graphs"))

from graphapp import write_graph_app
from wfkit import write_triage_app

from agentdown import telemetry
from agentdown.app.catalog import load_app
from agentdown.app.workflow_graphs import load_workflow_graphs
from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore
from agentdown.runtime.queues.sqlite import SqliteQueueService
from agentdown.runtime.workflow_graphs import GraphService, GraphSettings
from agentdown.runtime.workflow_graphs.checkpoints import RecordCheckpointStorage
from agentdown.runtime.workflows import WorkflowService, WorkflowSettings
from agentdown.testing import ScriptedModel
from agentdown.workflows.planned import PlanPolicy, validate_plan


async def test_planned_workflow_steps_join_the_starting_trace(
    otel: Otel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKER_FILE", str(tmp_path / "marks.txt"))
    catalog = load_app(write_triage_app(tmp_path), model=ScriptedModel(["REPORT"]), environ={})
    queues = SqliteQueueService(tmp_path / "queues.db")
    store = SqliteAgentsStore(tmp_path / "agents.db")
    svc = WorkflowService(catalog, store, queues.queue("wf-jobs"), WorkflowSettings(lease_seconds=30))
    await svc.start(consume=False)
    policy = PlanPolicy(
        allowed_tools=frozenset({"fetch_logs", "fetch_metrics"}), allowed_subagents=frozenset()
    )
    plan = validate_plan(
        {
            "tasks": [
                {"id": "logs", "tool": "fetch_logs", "args": {"service": "s"}},
                {"id": "metrics", "tool": "fetch_metrics", "args": {"service": "s"}, "depends_on": ["logs"]},
            ]
        },
        policy,
    )
    try:
        with telemetry.span("turn") as turn:
            assert turn is not None
            wid = await svc.start_workflow("main", "sess-a", None, plan)
        # Jobs handled later, outside that span, as a worker would.
        for _ in range(20):
            messages = await svc.queue.receive(32, 30)
            if not messages:
                break
            for message in messages:
                with contextlib.suppress(ValueError):
                    await svc._handle_job(message)
        found = await svc.get(wid)
        assert found is not None and found.state.runtime_status == "Completed"
    finally:
        await svc.aclose()
        await store.aclose()
        await queues.aclose()
    start = otel.one("turn")
    steps = otel.named("workflow_step")
    assert sorted(s.name for s in steps) == ["workflow_step fetch_logs", "workflow_step fetch_metrics"]
    for step in steps:
        assert step.context.trace_id == start.context.trace_id
        assert parent_of(step) == start.context.span_id
        attrs = step.attributes or {}
        assert attrs["agentdown.workflow.id"] == wid and attrs["agentdown.workflow.attempt"] == 1


@pytest.fixture
async def graphs(tmp_path: Path) -> AsyncIterator[GraphService]:
    store = SqliteAgentsStore(tmp_path / "agents.db")
    queues = SqliteQueueService(tmp_path / "queues.db")
    svc = GraphService(
        store,
        queues.queue("agentdown-workflow-steps"),
        load_workflow_graphs(write_graph_app(tmp_path)),
        checkpoints=RecordCheckpointStorage(store),
        settings=GraphSettings(visibility_seconds=5, concurrency=8, poll_seconds=0.05),
    )
    await svc.start()  # its consumer task starts here, before any span: no context to inherit
    try:
        yield svc
    finally:
        await svc.aclose()
        await queues.aclose()
        await store.aclose()


async def test_graph_workflow_steps_join_the_starting_trace(otel: Otel, graphs: GraphService) -> None:
    with telemetry.span("request") as request:
        assert request is not None
        run = await graphs.engine.start("triage", "printer on fire", "")
    deadline = time.monotonic() + 20
    body: dict[str, Any] = run
    while time.monotonic() < deadline and body["status"] == "IN_PROGRESS":
        await asyncio.sleep(0.02)
        body = (await graphs.engine.get("triage", run["id"], "")).body
    assert body["status"] == "IDLE_WITH_PENDING_REQUESTS", body
    start = otel.one("request")
    steps = otel.named("workflow_step triage.")
    assert len(steps) >= 3, [s.name for s in otel.spans()]
    assert all(s.context.trace_id == start.context.trace_id for s in steps)
    assert all(parent_of(s) == start.context.span_id for s in steps)
    assert {(s.attributes or {})["agentdown.workflow.run.id"] for s in steps} == {run["id"]}
    # The step queue's polls were measured.
    depth = otel.metrics()["agentdown.queue.depth"]
    assert any(p.attributes["messaging.destination.name"] == "agentdown-workflow-steps" for p in depth)
