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
from agentdown.runtime.workflow_graphs.checkpoints import KIND as CHECKPOINT
from agentdown.runtime.workflow_graphs.checkpoints import RecordCheckpointStorage
from agentdown.runtime.workflow_graphs.records import RESULT, RUN

FAST = GraphSettings(visibility_seconds=5, concurrency=8, poll_seconds=0.05)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[GraphService]:
    app = write_graph_app(tmp_path)
    graphs = load_workflow_graphs(app)
    store = SqliteAgentsStore(tmp_path / "agents.db")
    queues = SqliteQueueService(tmp_path / "queues.db")
    checkpoints = RecordCheckpointStorage(store)
    svc = GraphService(
        store, queues.queue("agentdown-workflow-steps"), graphs, checkpoints=checkpoints, settings=FAST
    )
    await svc.start()
    try:
        yield svc
    finally:
        await svc.aclose()
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


async def test_a_tampered_checkpoint_fails_the_run_with_a_clear_error(service: GraphService) -> None:
    # Stop consuming, start a run, forge its boundary checkpoint, then let the jobs run.
    await service.jobs.aclose()
    run = await service.engine.start("chain", 0, "")
    service.engine.boundaries.clear()
    body = (await service.engine.get("chain", run["id"], "")).body
    store = service.engine.store
    record = await store.get(CHECKPOINT, "", body["checkpoint_id"])
    assert record is not None
    forged = dict(record.body)
    forged["document"] = {**forged["document"], "state": {"x": {"$type": "os:system", "value": {}}}}
    await store.replace(record, forged)
    service.jobs.start("again")
    failed = await wait_status(service, "chain", run["id"])
    assert failed["status"] == "FAILED"
    assert "os:system" in failed["error"]["message"]


async def test_fan_out_targets_run_concurrently(
    service: GraphService, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("billing", "security", "product"):
        monkeypatch.setenv("SLOW_" + name, "1")
    began = time.monotonic()
    run = await service.engine.start("triage", "x", "")
    paused = await wait_status(service, "triage", run["id"])
    assert paused["status"] == "IDLE_WITH_PENDING_REQUESTS"
    assert time.monotonic() - began < 2.5  # three 1 s targets of one step, not one after another


async def test_a_redelivered_job_whose_result_exists_runs_nothing(
    service: GraphService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker.txt"
    monkeypatch.setenv("MARKER_FILE", str(marker))
    await service.jobs.aclose()  # jobs are handled by hand below
    queue = service.queue
    run = await service.engine.start("triage", "x", "")
    [message] = await queue.receive(1, 30)
    assert await service.engine.handle(message.text) == "done"  # split ran; the three checkers are queued
    assert marker.read_text().split()[0::2] == ["split"]
    assert await service.engine.handle(message.text) == "done"  # redelivered: stale, nothing runs
    jobs = await queue.receive(10, 30)
    assert len(jobs) == 3
    await service.engine.handle(jobs[0].text)
    await service.engine.handle(jobs[0].text)  # a duplicate delivery: its result exists
    for job in jobs[1:]:
        await service.engine.handle(job.text)
    names = marker.read_text().split()[0::2]
    assert names == ["split", "billing", "security", "product", "join"], names
    body = (await service.engine.get("triage", run["id"], "")).body
    assert body["status"] == "IDLE_WITH_PENDING_REQUESTS"


async def test_a_commit_that_died_before_sending_is_finished_by_its_redelivery(service: GraphService) -> None:
    await service.jobs.aclose()
    queue = service.queue
    run = await service.engine.start("triage", "x", "")
    [message] = await queue.receive(1, 30)
    sent: list[str] = []

    async def die(texts: list[str]) -> None:
        sent.extend(texts)
        raise RuntimeError("killed before sending")

    real = service.engine._send
    service.engine._send = die  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await service.engine.handle(message.text)
    service.engine._send = real  # type: ignore[method-assign]
    assert len(sent) == 3 and await queue.receive(10, 30) == []
    assert await service.engine.handle(message.text) == "done"  # the redelivery sends them
    assert len(await queue.receive(10, 30)) == 3
    body = (await service.engine.get("triage", run["id"], "")).body
    assert body["_step"]["sent"] is True and body["iteration"] == 1


async def test_large_items_travel_in_an_input_record(service: GraphService) -> None:
    text = "x" * 40_000
    run = await service.engine.start("triage", text, "")
    paused = await wait_status(service, "triage", run["id"])
    assert paused["status"] == "IDLE_WITH_PENDING_REQUESTS", paused
    assert paused["pending_requests"][0]["data"]["summary"].startswith("billing:xxx")


async def test_handle_step_message_for_a_queue_triggered_function(service: GraphService) -> None:
    from agentdown.runtime.workflow_graphs.azure_functions import StepNotReady, handle_step_message

    await service.jobs.aclose()
    run = await service.engine.start("chain", 0, "")
    [message] = await service.queue.receive(1, 30)
    assert message.text is not None
    early = message.text.replace('"iteration":1', '"iteration":5')
    with pytest.raises(StepNotReady):
        await handle_step_message(service, early)
    await handle_step_message(service, message.text)
    await handle_step_message(service, "not json at all")  # dropped, with a warning
    body = (await service.engine.get("chain", run["id"], "")).body
    assert body["status"] == "IDLE" and body["outputs"] == [3]


async def test_max_iterations_fails_the_run_after_its_last_step(
    service: GraphService,
) -> None:
    run = await service.engine.start("chain", -20, "")  # 24 supersteps; the graph allows 10
    failed = await wait_status(service, "chain", run["id"])
    assert failed["status"] == "FAILED"
    assert failed["error"]["type"] == "WorkflowConvergenceError"
    assert "max_iterations=10" in failed["error"]["message"]
    assert failed["iteration"] == 10 and failed["outputs"] == []
