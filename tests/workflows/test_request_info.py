"""Human in the loop: request_info pauses a run; run(responses=...) answers it, here or in another process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import agentdown
from agentdown.workflows import (
    Executor,
    HandlerSignatureError,
    InMemoryCheckpointStorage,
    WorkflowBuilder,
    WorkflowContext,
    WorkflowRequestError,
    WorkflowRunError,
    WorkflowRunState,
    executor,
    handler,
    response_handler,
)


@dataclass
class Approval:
    question: str


class Reviewer(Executor):
    """Asks a human to approve each draft; yields the verdict."""

    @handler
    async def review(self, draft: str, ctx: WorkflowContext[Any, str]) -> None:
        ctx.set_state("draft", draft)
        await ctx.request_info(Approval(f"publish {draft!r}?"), bool)

    @response_handler
    async def on_answer(self, request: Approval, approved: bool, ctx: WorkflowContext[Any, str]) -> None:
        draft = ctx.get_state("draft")
        await ctx.yield_output(f"{draft}: {'published' if approved else 'rejected'} ({request.question})")


def _workflow(storage: Any = None) -> Any:
    return WorkflowBuilder(
        start_executor=Reviewer("reviewer"), checkpoint_storage=storage, name="review"
    ).build()


async def test_request_info_pauses_with_pending_requests_and_responses_continue() -> None:
    workflow = _workflow()
    first = await workflow.run("post")
    assert first.get_outputs() == []
    assert first.get_final_state() is WorkflowRunState.IDLE_WITH_PENDING_REQUESTS
    [request] = first.get_request_info_events()
    assert request.data == Approval("publish 'post'?")
    assert request.source_executor_id == "reviewer"
    assert request.request_type is Approval and request.response_type is bool
    assert workflow.pending_requests == {request.request_id: Approval("publish 'post'?")}

    second = await workflow.run(responses={request.request_id: True})
    assert second.get_outputs() == ["post: published (publish 'post'?)"]
    assert second.get_final_state() is WorkflowRunState.IDLE
    assert workflow.pending_requests == {}


async def test_an_unknown_request_id_is_refused_and_nothing_runs() -> None:
    workflow = _workflow()
    [request] = (await workflow.run("post")).get_request_info_events()
    with pytest.raises(WorkflowRequestError, match="no pending request has the id 'nope'"):
        await workflow.run(responses={"nope": True})
    assert request.request_id in workflow.pending_requests


async def test_an_answer_of_the_wrong_type_is_refused() -> None:
    workflow = _workflow()
    [request] = (await workflow.run("post")).get_request_info_events()
    with pytest.raises(WorkflowRequestError, match="must be a bool, got a str"):
        await workflow.run(responses={request.request_id: "yes"})
    # Still answerable afterwards.
    assert (
        (await workflow.run(responses={request.request_id: False}))
        .get_outputs()[0]
        .endswith("rejected (publish 'post'?)")
    )


async def test_an_answer_goes_to_a_plain_handler_of_its_type_without_a_response_handler() -> None:
    @executor(id="ask")
    async def ask(message: str | int, ctx: WorkflowContext[Any, str]) -> None:
        if isinstance(message, str):
            await ctx.request_info({"prompt": message}, int, request_id="fixed-id")
        else:
            await ctx.yield_output(f"got {message}")

    workflow = WorkflowBuilder(start_executor=ask).build()
    [request] = (await workflow.run("how many?")).get_request_info_events()
    assert request.request_id == "fixed-id"
    assert (await workflow.run(responses={"fixed-id": 3})).get_outputs() == ["got 3"]


async def test_asking_for_an_answer_no_handler_takes_is_refused_at_the_request() -> None:
    @executor(id="ask")
    async def ask(message: str, ctx: WorkflowContext[Any, str]) -> None:
        await ctx.request_info("?", int)

    with pytest.raises(HandlerSignatureError, match="asks for a int answer but has no @response_handler"):
        await WorkflowBuilder(start_executor=ask).build().run("x")


async def test_run_argument_combinations_are_checked() -> None:
    workflow = _workflow()
    with pytest.raises(WorkflowRunError, match="needs a message"):
        await workflow.run()
    with pytest.raises(WorkflowRunError, match="not both"):
        await workflow.run("x", responses={"a": 1})
    with pytest.raises(WorkflowRunError, match="needs a storage"):
        await workflow.run(checkpoint_id="abc")


async def test_a_paused_run_resumes_in_a_new_workflow_object_from_its_checkpoint() -> None:
    storage = InMemoryCheckpointStorage()
    [request] = (await _workflow(storage).run("essay")).get_request_info_events()
    latest = await storage.get_latest("review")
    assert latest is not None and latest.status == "IDLE_WITH_PENDING_REQUESTS"

    fresh = _workflow(storage)  # as another process would build it
    restored = await fresh.run(checkpoint_id=latest.checkpoint_id)
    [again] = restored.get_request_info_events()
    assert again.request_id == request.request_id and again.data == request.data
    result = await fresh.run(responses={request.request_id: True})
    assert result.get_outputs() == ["essay: published (publish 'essay'?)"]


async def test_restore_and_answer_in_one_call() -> None:
    storage = InMemoryCheckpointStorage()
    [request] = (await _workflow(storage).run("memo")).get_request_info_events()
    latest = await storage.get_latest("review")
    assert latest is not None
    result = await _workflow().run(
        checkpoint_id=latest.checkpoint_id, checkpoint_storage=storage, responses={request.request_id: False}
    )
    assert result.get_outputs() == ["memo: rejected (publish 'memo'?)"]


PROCESS_SCRIPT = textwrap.dedent(
    """
    import asyncio
    import json
    import sys
    from dataclasses import dataclass
    from typing import Any

    from agentdown.workflows import (
        Executor, SqliteCheckpointStorage, WorkflowBuilder, WorkflowContext, handler, response_handler,
    )


    @dataclass
    class Approval:
        question: str


    class Reviewer(Executor):
        @handler
        async def review(self, draft: str, ctx: WorkflowContext[Any, str]) -> None:
            ctx.set_state("draft", draft)
            await ctx.request_info(Approval(f"publish {draft}?"), bool)

        @response_handler
        async def on_answer(self, request: Approval, approved: bool, ctx: WorkflowContext[Any, str]) -> None:
            await ctx.yield_output(f"{ctx.get_state('draft')}: {approved} ({request.question})")


    async def main() -> None:
        storage = SqliteCheckpointStorage(sys.argv[1])
        workflow = WorkflowBuilder(start_executor=Reviewer("reviewer"), checkpoint_storage=storage, name="review").build()
        if sys.argv[2] == "start":
            result = await workflow.run("report")
            print(json.dumps([e.request_id for e in result.get_request_info_events()]))
        else:
            latest = await storage.get_latest("review")
            result = await workflow.run(checkpoint_id=latest.checkpoint_id, responses={sys.argv[3]: True})
            print(json.dumps(result.get_outputs()))
        await storage.aclose()


    asyncio.run(main())
    """
)


def _run_process(script: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(Path(agentdown.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_paused_run_resumes_in_another_process_from_sqlite(tmp_path: Path) -> None:
    import json

    script = tmp_path / "review.py"
    script.write_text(PROCESS_SCRIPT, encoding="utf-8")
    db = str(tmp_path / "checkpoints.db")
    [request_id] = json.loads(_run_process(script, db, "start"))
    outputs = json.loads(_run_process(script, db, "resume", request_id))
    assert outputs == ["report: True (publish report?)"]


async def test_requests_can_be_answered_one_at_a_time_and_other_work_goes_on_meanwhile() -> None:
    @executor(id="start")
    async def start(text: str) -> str:
        return text

    @executor(id="asker")
    async def asker(message: str | int, ctx: WorkflowContext[Any, str]) -> None:
        if isinstance(message, str):
            await ctx.request_info("first?", int, request_id="q1")
            await ctx.request_info("second?", int, request_id="q2")
        else:
            await ctx.yield_output(f"answer {message}")

    @executor(id="worker")
    async def worker(text: str) -> str:
        return f"worked on {text}"

    workflow = WorkflowBuilder(start_executor=start).add_fan_out_edges(start, [asker, worker]).build()
    paused = await workflow.run("job", include_status_events=True)
    assert paused.get_outputs() == ["worked on job"]  # did not wait for the answers
    states = [e.state for e in paused if e.type == "status"]
    assert states == [
        WorkflowRunState.IN_PROGRESS,
        WorkflowRunState.IN_PROGRESS_PENDING_REQUESTS,
        WorkflowRunState.IDLE_WITH_PENDING_REQUESTS,
    ]
    half = await workflow.run(responses={"q2": 2})
    assert half.get_outputs() == ["answer 2"]
    assert half.get_final_state() is WorkflowRunState.IDLE_WITH_PENDING_REQUESTS
    assert list(workflow.pending_requests) == ["q1"]
    done = await workflow.run(responses={"q1": 1})
    assert done.get_outputs() == ["answer 1"]
    assert done.get_final_state() is WorkflowRunState.IDLE


async def test_a_request_id_already_pending_is_refused() -> None:
    @executor(id="twice")
    async def twice(message: str | int, ctx: WorkflowContext[Any, str]) -> None:
        await ctx.request_info("a?", int, request_id="same")
        await ctx.request_info("b?", int, request_id="same")

    with pytest.raises(WorkflowRunError, match="'same' is already pending"):
        await WorkflowBuilder(start_executor=twice).build().run("x")
