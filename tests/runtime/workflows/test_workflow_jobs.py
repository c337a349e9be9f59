"""The runner's guards, one job at a time: replays, duplicates, stale attempts, lost outboxes, timers, caps.

Each test drives :class:`WorkflowService` by hand (no consumer): it receives the jobs
from the embedded queue and hands them to the service, so every redelivery, duplicate
and crash point is placed exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from wfkit import marks, write_triage_app

from agentdown.app.catalog import load_app
from agentdown.exceptions import ConfigurationError
from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore
from agentdown.runtime.queues.sqlite import SqliteQueueService
from agentdown.runtime.workflows import KIND, ActiveLimitError, WorkflowService, WorkflowSettings
from agentdown.runtime.workflows.execute import failure_message, run_tool
from agentdown.runtime.workflows.records import apply_step, utcnow
from agentdown.runtime.workflows.service import MAX_DELIVERIES
from agentdown.testing import ScriptedModel
from agentdown.workflows.planned import PlanPolicy, TaskFailure, on_result, validate_plan
from agentdown.workflows.planned.plan import MAX_ACTIVE_WORKFLOWS_PER_SESSION

POLICY = PlanPolicy(
    allowed_tools=frozenset({"fetch_logs", "fetch_metrics", "flaky_check", "summarize_findings"}),
    allowed_subagents=frozenset({"writer"}),
)


@pytest.fixture
async def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WorkflowService]:
    monkeypatch.setenv("MARKER_FILE", str(tmp_path / "marks.txt"))
    catalog = load_app(write_triage_app(tmp_path), model=ScriptedModel(["REPORT"]), environ={})
    queues = SqliteQueueService(tmp_path / "queues.db")
    store = SqliteAgentsStore(tmp_path / "agents.db")
    svc = WorkflowService(
        catalog,
        store,
        queues.queue("wf-jobs"),
        WorkflowSettings(lease_seconds=30),
        poison_queue=queues.queue("wf-jobs-poison"),
    )
    await svc.start(consume=False)
    yield svc
    await svc.aclose()
    await store.aclose()
    await queues.aclose()


def plan(*tasks: dict[str, Any]) -> Any:
    return validate_plan({"tasks": list(tasks)}, POLICY)


async def drain(service: WorkflowService, rounds: int = 20) -> list[dict[str, Any]]:
    """Handle every visible job until none is left; the jobs handled."""
    seen: list[dict[str, Any]] = []
    for _ in range(rounds):
        messages = await service.queue.receive(32, 30)
        if not messages:
            await asyncio.sleep(0.1)  # a short timer becomes visible
            messages = await service.queue.receive(32, 30)
        if not messages:
            break
        for message in messages:
            with contextlib.suppress(ValueError):
                seen.append(json.loads(message.text or ""))
            await service._handle_job(message)
    return seen


async def test_a_replayed_job_does_nothing(service: WorkflowService, tmp_path: Path) -> None:
    wid = await service.start_workflow(
        "main", "sess-a", None, plan({"id": "logs", "tool": "fetch_logs", "args": {"service": "s"}})
    )
    [message] = await service.queue.receive(1, 30)
    await service._handle_job(message)
    found = await service.get(wid)
    assert found is not None and found.state.runtime_status == "Completed"
    # The same job again (a redelivery after the delete was lost): nothing runs, nothing changes.
    await service.queue.send(message.body)
    before = (await service.store.get(KIND, "", wid)).etag  # type: ignore[union-attr]
    await drain(service)
    assert marks(tmp_path / "marks.txt") == ["fetch_logs"]
    assert (await service.store.get(KIND, "", wid)).etag == before  # type: ignore[union-attr]


async def test_a_duplicate_job_while_the_call_runs_is_put_back_not_run(
    service: WorkflowService, tmp_path: Path
) -> None:
    wid = await service.start_workflow(
        "main", "sess-a", None, plan({"id": "logs", "tool": "fetch_logs", "args": {"service": "s"}})
    )
    [message] = await service.queue.receive(1, 30)
    # Another worker holds the started marker with a live lease (it is running the call).
    claimed = await service._claim(wid, "logs", 1)
    assert not isinstance(claimed, str)
    duplicate = await service.queue.receive(1, 30)
    assert duplicate == []
    await service.queue.send(message.body)
    [dup] = await service.queue.receive(1, 30)
    await service._handle_job(dup)
    assert marks(tmp_path / "marks.txt") == []  # not run a second time
    assert await service.queue.approximate_count() == 3  # both still there (and the start's kick)


async def test_a_started_call_whose_lease_ran_out_is_interrupted_not_rerun(
    service: WorkflowService, tmp_path: Path
) -> None:
    wid = await service.start_workflow(
        "main", "sess-a", None, plan({"id": "logs", "tool": "fetch_logs", "args": {"service": "s"}})
    )
    [message] = await service.queue.receive(1, 30)
    claimed = await service._claim(wid, "logs", 1)
    assert not isinstance(claimed, str)

    def expire(state: Any, body: dict[str, Any]) -> None:
        body["runs"]["logs"]["until"] = 0  # the worker that started it died

    await apply_step(service.store, wid, expire)
    await service._handle_job(message)
    found = await service.get(wid)
    assert found is not None and found.state.runtime_status == "Failed"
    assert "interrupted" in str(found.state.output)
    assert marks(tmp_path / "marks.txt") == []


async def test_a_job_of_an_older_attempt_is_dropped(service: WorkflowService, tmp_path: Path) -> None:
    p = plan(
        {"id": "check", "tool": "flaky_check", "retry": {"max_attempts": 3, "first_interval": "PT0.01S"}}
    )
    wid = await service.start_workflow("main", "sess-a", None, p)
    first = await drain(service)  # attempt 1 fails, the retry timer fires, attempt 2 succeeds
    found = await service.get(wid)
    assert found is not None and found.state.runtime_status == "Completed", found.state
    assert [j["kind"] for j in first] == ["run", "timer", "run"]
    old = next(j for j in first if j["kind"] == "run" and j["attempt"] == 1)
    await service.queue.send(json.dumps(old))
    await drain(service)
    assert marks(tmp_path / "marks.txt") == ["flaky_check", "flaky_check"]


async def test_jobs_left_in_the_outbox_by_a_crash_are_sent_by_the_next_job(service: WorkflowService) -> None:
    wid = await service.start_workflow(
        "main",
        "sess-a",
        None,
        plan(
            {"id": "logs", "tool": "fetch_logs", "args": {"service": "s"}},
            {"id": "metrics", "tool": "fetch_metrics", "args": {"service": "s"}, "depends_on": ["logs"]},
        ),
    )
    [message] = await service.queue.receive(1, 30)
    # The worker ran `logs`, wrote the result and its next step, and died before sending the jobs.
    await service._claim(wid, "logs", 1)

    def step(state: Any, body: dict[str, Any]) -> Any:
        return on_result(state, "logs", {"service": "s"}, utcnow(), attempt=1)

    outcome = await apply_step(service.store, wid, step)
    assert [j["key"] for j in outcome.jobs] == ["metrics"]
    assert await service.queue.approximate_count() == 2  # the undeleted job and the start's kick
    found = await service.get(wid)
    assert found is not None and [j["key"] for j in found.body["outbox"]] == ["metrics"]
    # Its job comes back; handling it sends the lost jobs first, then drops itself as done.
    await service._handle_job(message)
    await drain(service)
    found = await service.get(wid)
    assert found is not None and found.state.runtime_status == "Completed" and found.body["outbox"] == []


async def test_a_timer_that_is_not_due_re_arms(service: WorkflowService) -> None:
    wid = await service.start_workflow(
        "main", "sess-a", None, plan({"id": "nap", "type": "wait", "duration": "PT1H"})
    )
    assert await service.queue.receive(1, 30) == []  # a delayed message: nothing holds a worker
    found = await service.get(wid)
    assert found is not None
    due = found.state.units["nap"].timer_due
    assert due is not None
    # Delivered early (a delay capped by the queue's limit): sent again for the rest, not fired.
    early = {"job_id": "", "workflow_id": wid, "kind": "timer", "key": "nap", "due": due.isoformat()}
    await service.queue.send(json.dumps(early))
    [message] = await service.queue.receive(1, 30)
    await service._handle_job(message)
    found = await service.get(wid)
    assert found is not None and found.state.units["nap"].status == "running"
    assert await service.queue.approximate_count() == 3  # the original, the re-armed one, the kick
    # A timer job for another time (stale) is dropped.
    stale = {**early, "due": (due - timedelta(minutes=5)).isoformat()}
    await service.queue.send(json.dumps(stale))
    [message] = await service.queue.receive(1, 30)
    await service._handle_job(message)
    assert await service.queue.approximate_count() == 3


async def test_a_session_may_run_ten_workflows_at_once(service: WorkflowService) -> None:
    p = plan({"id": "nap", "type": "wait", "duration": "PT1H"})
    ids = [
        await service.start_workflow("main", "sess-a", None, p)
        for _ in range(MAX_ACTIVE_WORKFLOWS_PER_SESSION)
    ]
    with pytest.raises(ActiveLimitError):
        await service.start_workflow("main", "sess-a", None, p)
    await service.start_workflow("main", "sess-b", None, p)  # another session is not counted
    await service.cancel(ids[0], "done")
    await service.start_workflow("main", "sess-a", None, p)


async def test_unknown_and_malformed_jobs_are_dropped(service: WorkflowService) -> None:
    for body in (
        "not json",
        json.dumps({"kind": "run"}),
        json.dumps({"workflow_id": "nope", "kind": "run", "key": "x", "attempt": 1}),
    ):
        await service.queue.send(body)
    await drain(service)
    assert await service.queue.approximate_count() == 0


async def test_tool_failures_keep_tracebacks_and_long_values_out_of_the_status(
    service: WorkflowService,
) -> None:
    secret = "password=hunter2 " * 100
    message = failure_message("tool 'x'", RuntimeError(f"first line\n{secret}"))
    assert message == "tool 'x' raised RuntimeError: first line"
    long = failure_message("tool 'x'", ValueError("v" * 1000))
    assert len(long) < 350 and long.endswith("…")
    # A tool the plan names that is no longer an allowed workflow tool (excluded) fails, without running.
    outcome = await run_tool(service.catalog, "main", "page_oncall", {})
    assert isinstance(outcome, TaskFailure) and "no longer a workflow tool" in outcome.message


async def test_a_start_whose_process_died_before_sending_is_kicked(
    service: WorkflowService, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.settings = WorkflowSettings(lease_seconds=0.3)
    real_flush = service._flush

    async def die(*args: Any) -> None:
        raise ConnectionError("the process died here")

    monkeypatch.setattr(service, "_flush", die)
    p = plan({"id": "logs", "tool": "fetch_logs", "args": {"service": "s"}})
    # The run exists, so its id is the answer even though its jobs were not sent.
    wid = await service.start_workflow("main", "sess-a", None, p)
    monkeypatch.setattr(service, "_flush", real_flush)
    [found] = await service.all_workflows()
    assert [j["key"] for j in found.body["outbox"]] == ["logs"]
    assert await service.queue.receive(1, 30) == []  # only the kick, delayed by a lease
    await asyncio.sleep(0.4)
    await drain(service)  # any worker receiving the kick sends the outbox, then the run follows
    done = await service.get(found.workflow_id)
    assert done is not None and done.state.runtime_status == "Completed" and done.body["outbox"] == []
    assert done.workflow_id == wid


async def test_a_job_that_fails_every_time_goes_to_the_poison_queue(service: WorkflowService) -> None:
    wid = await service.start_workflow(
        "main", "sess-a", None, plan({"id": "nap", "type": "wait", "duration": "PT1H"})
    )

    def corrupt(state: Any, body: dict[str, Any]) -> None:
        body["state"]["tasks"] = "broken"  # no longer a PlanState: every handling raises

    await apply_step(service.store, wid, corrupt)
    job = {"job_id": "", "workflow_id": wid, "kind": "timer", "key": "nap", "due": utcnow().isoformat()}
    await service.queue.send(json.dumps(job))
    for _ in range(MAX_DELIVERIES):
        [message] = await service.queue.receive(1, 0)
        await service._handle(message)  # fails, logged; the job stays
    [message] = await service.queue.receive(1, 0)
    await service._handle(message)
    assert service.poison is not None
    assert await service.poison.approximate_count() == 1
    assert await service.queue.receive(1, 0) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AGENTDOWN_WORKFLOWS_QUEUE", "Bad_Name"),
        ("AGENTDOWN_WORKFLOWS_QUEUE", "q" * 60),
        ("AGENTDOWN_WORKFLOW_LEASE_SECONDS", "0"),
        ("AGENTDOWN_WORKFLOW_POLL_SECONDS", "soon"),
        ("AGENTDOWN_WORKFLOW_CONCURRENCY", "-1"),
        ("AGENTDOWN_WORKFLOW_EXECUTE", "maybe"),
    ],
)
def test_bad_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        WorkflowSettings.from_env({name: value})


def test_settings_from_the_environment() -> None:
    settings = WorkflowSettings.from_env(
        {"AGENTDOWN_WORKFLOWS_QUEUE": "my-flows", "AGENTDOWN_WORKFLOW_EXECUTE": "off"}
    )
    assert (settings.queue, settings.execute, settings.lease_seconds) == ("my-flows", False, 30.0)


async def test_for_each_elements_run_once_each(service: WorkflowService, tmp_path: Path) -> None:
    p = plan(
        {"id": "deploys", "tool": "fetch_logs", "args": {"service": "s"}},
        {
            "id": "each",
            "tool": "fetch_metrics",
            "for_each": "${deploys.result.lines}",
            "args": {"service": "${item}"},
            "depends_on": ["deploys"],
            "max_parallelism": 1,
        },
    )
    wid = await service.start_workflow("main", "sess-a", None, p)
    jobs = await drain(service)
    found = await service.get(wid)
    assert found is not None and found.state.runtime_status == "Completed", found.state
    assert found.state.output["results"]["each"] == [
        {"service": "[ERROR] upstream timeout", "cpu_p99": 91.5, "saturation": "high"}
    ]
    assert [j["key"] for j in jobs if j["kind"] == "run"] == ["deploys", "each[0]"]
    assert marks(tmp_path / "marks.txt") == ["fetch_logs", "fetch_metrics"]
