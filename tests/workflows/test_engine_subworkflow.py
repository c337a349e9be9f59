"""A workflow as a node of another: outputs flow on, requests surface outside, checkpoints hold both."""

from __future__ import annotations

from typing import Any

import pytest

from agentdown.workflows import (
    InMemoryCheckpointStorage,
    TypeCompatibilityError,
    WorkflowBuilder,
    WorkflowContext,
    WorkflowExecutor,
    WorkflowRunState,
    executor,
    graph_signature,
)


def _inner() -> Any:
    @executor(id="double")
    async def double(n: int) -> int:
        return n * 2

    @executor(id="describe")
    async def describe(n: int) -> str:
        return f"doubled to {n}"

    return WorkflowBuilder(start_executor=double, name="inner").add_edge(double, describe).build()


def _asking_inner() -> Any:
    @executor(id="ask")
    async def ask(message: str | int, ctx: WorkflowContext[Any, str]) -> None:
        if isinstance(message, str):
            await ctx.request_info(f"how many {message}?", int)
        else:
            await ctx.yield_output(f"{message} it is")

    return WorkflowBuilder(start_executor=ask, name="asking").build()


async def test_sub_workflow_outputs_are_sent_on_to_the_next_node() -> None:
    @executor(id="parse")
    async def parse(text: str) -> int:
        return int(text)

    @executor(id="shout")
    async def shout(text: str) -> str:
        return text.upper()

    sub = WorkflowExecutor(_inner(), id="sub")
    outer = WorkflowBuilder(start_executor=parse).add_chain([parse, sub, shout]).build()
    assert (await outer.run("21")).get_outputs() == ["DOUBLED TO 42"]


async def test_a_terminal_sub_workflow_yields_its_outputs() -> None:
    outer = WorkflowBuilder(start_executor=WorkflowExecutor(_inner(), id="sub")).build()
    assert (await outer.run(5)).get_outputs() == ["doubled to 10"]


def test_edges_into_a_sub_workflow_are_checked_against_its_start_executor() -> None:
    @executor(id="words")
    async def words(text: str) -> str:
        return text

    sub = WorkflowExecutor(_inner(), id="sub")
    with pytest.raises(TypeCompatibilityError, match="'words' sends str but 'sub' accepts int"):
        WorkflowBuilder(start_executor=words).add_edge(words, sub).build()


async def test_a_request_inside_the_sub_workflow_is_answered_from_outside() -> None:
    outer = WorkflowBuilder(start_executor=WorkflowExecutor(_asking_inner(), id="sub")).build()
    paused = await outer.run("apples")
    [request] = paused.get_request_info_events()
    assert request.data == "how many apples?" and request.response_type is int
    assert paused.get_final_state() is WorkflowRunState.IDLE_WITH_PENDING_REQUESTS
    done = await outer.run(responses={request.request_id: 3})
    assert done.get_outputs() == ["3 it is"]


async def test_a_paused_sub_workflow_resumes_from_the_outer_checkpoint_in_new_objects() -> None:
    storage = InMemoryCheckpointStorage()

    def build() -> Any:
        sub = WorkflowExecutor(_asking_inner(), id="sub")
        return WorkflowBuilder(start_executor=sub, checkpoint_storage=storage, name="outer").build()

    [request] = (await build().run("pears")).get_request_info_events()
    latest = await storage.get_latest("outer")
    assert latest is not None
    done = await build().run(checkpoint_id=latest.checkpoint_id, responses={request.request_id: 7})
    assert done.get_outputs() == ["7 it is"]


def test_the_outer_signature_changes_with_the_sub_workflow_graph() -> None:
    a = WorkflowBuilder(start_executor=WorkflowExecutor(_inner(), id="sub")).build()
    b = WorkflowBuilder(start_executor=WorkflowExecutor(_asking_inner(), id="sub")).build()
    assert graph_signature(a) != graph_signature(b)
