"""The durable graph engine in one process: SQLite records, queue and checkpoints; the service consuming."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphapp import write_graph_app

from agentdown.app.workflow_graphs import load_workflow_graphs
from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore
from agentdown.runtime.queues.sqlite import SqliteQueueService
from agentdown.runtime.workflow_graphs import GraphService, GraphSettings, RunError
from agentdown.runtime.workflow_graphs.records import RESULT, RUN
from agentdown.workflows import SqliteCheckpointStorage

FAST = GraphSettings(visibility_seconds=5, concurrency=8, poll_seconds=0.05)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[GraphService]:
    app = write_graph_app(tmp_path)
    graphs = load_workflow_graphs(app)
    store = SqliteAgentsStore(tmp_path / "agents.db")
    queues = SqliteQueueService(tmp_path / "queues.db")
    checkpoints = SqliteCheckpointStorage(tmp_path / "cp.db")
    svc = GraphService(
        store, queues.queue("agentdown-workflow-steps"), graphs, checkpoints=checkpoints, settings=FAST
    )
    await svc.start()
    try:
        yield svc
    finally:
        await svc.aclose()
        await checkpoints.aclose()
        await queues.aclose()
        await store.aclose()


async def wait_status(svc: GraphService, name: str, run_id: str, owner: str = "") -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = (await svc.engine.get(name, run_id, owner)).body
        if body["status"] != "IN_PROGRESS":
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} still in progress: {body}")


async def test_fan_out_fan_in_pauses_for_an_answer_and_completes(service: GraphService) -> None:
    run = await service.engine.start("triage", "printer on fire", "")
    paused = await wait_status(service, "triage", run["id"])
    assert paused["status"] == "IDLE_WITH_PENDING_REQUESTS", paused
    [request] = paused["pending_requests"]
    assert request["executor_id"] == "join" and request["response_type"] == "bool"
    assert request["data"] == {
        "summary": "billing:printer on fire + security:printer on fire + product:printer on fire"
    }
    with pytest.raises(RunError, match="no pending request has the id 'nope'"):
        await service.engine.respond("triage", run["id"], "", {"nope": True})
    with pytest.raises(RunError, match="must be a bool"):
        await service.engine.respond("triage", run["id"], "", {request["request_id"]: "yes"})
    await service.engine.respond("triage", run["id"], "", {request["request_id"]: True})
    done = await wait_status(service, "triage", run["id"])
    assert done["status"] == "IDLE", done
    assert done["outputs"] == [
        "printer on fire: approved [billing:printer on fire + security:printer on fire + product:printer on fire]"
    ]
    assert done["pending_requests"] == [] and done["error"] is None
    assert done["iteration"] == 4


async def test_a_durable_checkpoint_resumes_in_process(service: GraphService) -> None:
    run = await service.engine.start("triage", "t", "")
    paused = await wait_status(service, "triage", run["id"])
    workflow = service.engine.graphs["triage"].build()
    [request] = paused["pending_requests"]
    result = await workflow.run(
        checkpoint_id=paused["checkpoint_id"],
        checkpoint_storage=service.checkpoints,
        responses={request["request_id"]: False},
    )
    assert result.get_outputs() == ["t: rejected [billing:t + security:t + product:t]"]


async def test_a_factory_graph_and_another_callers_run(service: GraphService) -> None:
    run = await service.engine.start("chain", 0, "p-alice")
    done = await wait_status(service, "chain", run["id"], "p-alice")
    assert (done["status"], done["outputs"], done["iteration"]) == ("IDLE", [3], 4)
    with pytest.raises(RunError, match="no run"):
        await service.engine.get("chain", run["id"], "p-mallory")
    with pytest.raises(RunError, match="no run"):
        await service.engine.get("triage", run["id"], "p-alice")
    with pytest.raises(RunError, match="takes no str input"):
        await service.engine.start("chain", "zero", "")
    with pytest.raises(RunError, match="no workflow 'nope'"):
        await service.engine.start("nope", 0, "")


async def test_a_finished_step_is_not_run_again_and_stale_jobs_do_nothing(service: GraphService) -> None:
    run = await service.engine.start("chain", 0, "")
    await wait_status(service, "chain", run["id"])
    store = service.engine.store
    results = []
    # Every result of the run: one per (superstep, target), written once.
    page = await store.list(RUN, "chain", limit=10)
    assert [r.id for r in page.records] == [run["id"]]
    for record in (await store.list(RESULT, "", limit=10)).records:
        results.append(record)
    job = {
        "v": 1,
        "run": run["id"],
        "workflow": "chain",
        "iteration": 2,
        "nonce": "forged",
        "index": 0,
        "target": "count",
        "items": [],
    }
    assert await service.engine.handle(json.dumps(job)) == "done"  # stale: nothing written
    body = (await service.engine.get("chain", run["id"], "")).body
    assert body["outputs"] == [3] and body["status"] == "IDLE"
    with pytest.raises(ValueError, match="not a workflow step job"):
        await service.engine.handle('{"v": 2}')


async def test_a_tampered_checkpoint_fails_the_run_with_a_clear_error(
    service: GraphService, tmp_path: Path
) -> None:
    import sqlite3

    # Stop consuming, start a run, forge its boundary checkpoint, then let the jobs run.
    await service.jobs.aclose()
    run = await service.engine.start("chain", 0, "")
    service.engine._boundaries.clear()
    body = (await service.engine.get("chain", run["id"], "")).body
    db = sqlite3.connect(tmp_path / "cp.db")
    (doc,) = db.execute(
        "SELECT document FROM agentdown_workflow_checkpoints WHERE checkpoint_id = ?",
        (body["checkpoint_id"],),
    ).fetchone()
    forged = json.loads(doc)
    forged["state"] = {"x": {"$type": "os:system", "value": {}}}
    db.execute(
        "UPDATE agentdown_workflow_checkpoints SET document = ? WHERE checkpoint_id = ?",
        (json.dumps(forged).encode(), body["checkpoint_id"]),
    )
    db.commit()
    db.close()
    service.jobs.start("again")
    failed = await wait_status(service, "chain", run["id"])
    assert failed["status"] == "FAILED"
    assert "os:system" in failed["error"]["message"]
