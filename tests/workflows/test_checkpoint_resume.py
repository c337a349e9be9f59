"""A run checkpointed in a durable storage resumes from a fresh storage object (another process) with its types."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentdown.messages import Message
from agentdown.workflows import WorkflowBuilder, WorkflowContext, executor
from agentdown.workflows.checkpoint import FileCheckpointStorage, SqliteCheckpointStorage
from agentdown.workflows.checkpoint.azure_blob import AzureBlobCheckpointStorage
from azurite_peer import Azurite


@dataclass
class Draft:
    text: str
    notes: tuple[str, ...] = ()


@executor(id="write")
async def write(topic: str, ctx: WorkflowContext[Draft]) -> None:
    ctx.set_state("history", [Message.user(topic)])
    await ctx.send_message(Draft(topic.upper()))


@executor(id="review")
async def review(draft: Draft, ctx: WorkflowContext[Draft]) -> None:
    await ctx.send_message(Draft(draft.text, (*draft.notes, "reviewed")))


@executor(id="publish")
async def publish(draft: Draft, ctx: WorkflowContext[Any, str]) -> None:
    history = ctx.get_state("history")
    assert isinstance(history[0], Message)  # the state came back with its type
    await ctx.yield_output(f"{draft.text} {draft.notes} after {history[0].text!r}")


def build(storage: Any) -> Any:
    return (
        WorkflowBuilder(start_executor=write, checkpoint_storage=storage, name="pipeline")
        .add_chain([write, review, publish])
        .build()
    )


Factory = Callable[[], Any]


@pytest.fixture(params=["file", "sqlite", "azure_blob"])
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "file":
        return lambda: FileCheckpointStorage(tmp_path / "cps")
    if request.param == "sqlite":
        return lambda: SqliteCheckpointStorage(tmp_path / "cps.db")
    server: Azurite = request.getfixturevalue("azurite")
    container = f"resume-{uuid.uuid4().hex[:16]}"
    return lambda: AzureBlobCheckpointStorage(connection_string=server.connection_string, container=container)


async def close(storage: Any) -> None:
    if hasattr(storage, "aclose"):
        await storage.aclose()


async def test_a_run_resumes_from_a_mid_run_checkpoint_in_a_new_process(make_storage: Factory) -> None:
    first = make_storage()
    try:
        expected = (await build(first).run("launch")).get_outputs()
        assert expected == ["LAUNCH ('reviewed',) after 'launch'"]
        checkpoints = await first.list_checkpoints("pipeline")
    finally:
        await close(first)
    # The checkpoint with the reviewed draft still queued (for `publish`).
    mid = next(cp for cp in checkpoints if any(m["source_id"] == "review" for m in cp.messages))
    assert mid.messages[0]["data"] == Draft("LAUNCH", ("reviewed",))
    second = make_storage()
    try:
        resumed = await build(second).run(checkpoint_id=mid.checkpoint_id)
        assert resumed.get_outputs() == expected
        # Only what was left ran: the state it needed came from the checkpoint.
        assert [e.executor_id for e in resumed if e.type == "executor_invoked"] == ["publish"]
    finally:
        await close(second)
