"""Checkpoints the engine takes: when, what they hold, restoring mid-run, refusing another graph."""

from __future__ import annotations

from typing import Any

import pytest

from agentdown.workflows import (
    CheckpointEncodingError,
    CheckpointMismatchError,
    InMemoryCheckpointStorage,
    WorkflowBuilder,
    WorkflowContext,
    executor,
    graph_signature,
)


@executor(id="split")
async def split(text: str) -> str:
    return text


@executor(id="left")
async def left(text: str) -> str:
    return f"L{text}"


@executor(id="hop")
async def hop(text: str) -> str:
    return text


@executor(id="right")
async def right(text: str, ctx: WorkflowContext[str]) -> None:
    ctx.set_state("right_saw", text)
    await ctx.send_message(f"R{text}")


@executor(id="join")
async def join(parts: list[str], ctx: WorkflowContext[Any, str]) -> None:
    await ctx.yield_output("|".join(parts) + f" state={ctx.get_state('right_saw')}")


class Opaque:
    """Neither a dataclass nor a pydantic model: checkpoints cannot hold it."""


def _build(storage: Any = None, name: str = "diamond") -> Any:
    return (
        WorkflowBuilder(start_executor=split, checkpoint_storage=storage, name=name)
        .add_fan_out_edges(split, [left, hop])
        .add_edge(hop, right)
        .add_fan_in_edges([left, right], join)
        .build()
    )


async def test_a_checkpoint_after_the_input_and_after_every_superstep() -> None:
    storage = InMemoryCheckpointStorage()
    workflow = _build(storage)
    result = await workflow.run("x")
    assert result.get_outputs() == ["Lx|Rx state=x"]
    checkpoints = await storage.list_checkpoints("diamond")
    steps = sum(1 for e in result if e.type == "superstep_completed")
    assert len(checkpoints) == 1 + steps
    assert [c.iteration for c in checkpoints] == list(range(steps + 1))
    assert checkpoints[0].messages == [{"source_id": None, "target_id": "split", "data": "x"}]
    assert all(c.graph_signature == graph_signature(workflow) for c in checkpoints)
    # A lineage: each names the one before it.
    assert [c.previous_checkpoint_id for c in checkpoints[1:]] == [c.checkpoint_id for c in checkpoints[:-1]]
    assert checkpoints[-1].status == "IDLE"
    assert checkpoints[0].previous_checkpoint_id is None


async def test_each_fresh_run_starts_a_new_lineage_and_a_resume_continues_one() -> None:
    storage = InMemoryCheckpointStorage()
    workflow = _build(storage, name="lineage")
    await workflow.run("a")
    first_run = await storage.list_checkpoints("lineage")
    await workflow.run("b")
    second_run = (await storage.list_checkpoints("lineage"))[len(first_run) :]
    assert second_run[0].previous_checkpoint_id is None
    await _build(storage, name="lineage").run(checkpoint_id=first_run[2].checkpoint_id)
    resumed = (await storage.list_checkpoints("lineage"))[len(first_run) + len(second_run) :]
    assert resumed[0].previous_checkpoint_id == first_run[2].checkpoint_id


async def test_restoring_mid_run_finishes_with_the_same_result_including_a_half_filled_fan_in() -> None:
    storage = InMemoryCheckpointStorage()
    await _build(storage).run("x")
    checkpoints = await storage.list_checkpoints("diamond")
    # After step 3, `left`'s message waits in the fan-in buffer and `right`'s is still queued.
    mid = checkpoints[3]
    assert list(mid.executor_states["fan_in"].values()) == [{"left": ["Lx"]}]
    assert mid.messages == [{"source_id": "right", "target_id": None, "data": "Rx"}]
    assert mid.state == {"right_saw": "x"}
    result = await _build().run(checkpoint_id=mid.checkpoint_id, checkpoint_storage=storage)
    assert result.get_outputs() == ["Lx|Rx state=x"]


async def test_a_checkpoint_of_another_graph_is_refused() -> None:
    storage = InMemoryCheckpointStorage()
    await _build(storage).run("x")
    latest = await storage.get_latest("diamond")
    assert latest is not None
    other = WorkflowBuilder(start_executor=split, name="diamond").add_edge(split, left).build()
    assert graph_signature(other) != latest.graph_signature
    with pytest.raises(CheckpointMismatchError, match="taken by another graph"):
        await other.run(checkpoint_id=latest.checkpoint_id, checkpoint_storage=storage)


def test_the_signature_is_stable_across_builds_and_changes_with_the_graph() -> None:
    assert graph_signature(_build()) == graph_signature(_build())
    assert graph_signature(_build()) != graph_signature(WorkflowBuilder(start_executor=split).build())


async def test_a_value_the_codec_cannot_store_fails_the_run_with_its_path() -> None:
    @executor(id="keeps_an_opaque_object")
    async def keeps(text: str, ctx: WorkflowContext[Any, str]) -> None:
        ctx.set_state("handle", Opaque())

    workflow = WorkflowBuilder(start_executor=keeps, checkpoint_storage=InMemoryCheckpointStorage()).build()
    with pytest.raises(CheckpointEncodingError, match=r"state\.handle"):
        await workflow.run("x")


async def test_a_storage_given_to_run_is_used_for_that_run() -> None:
    storage = InMemoryCheckpointStorage()
    workflow = _build(name="runtime-storage")
    await workflow.run("x", checkpoint_storage=storage)
    assert len(await storage.list_checkpoints("runtime-storage")) > 1
