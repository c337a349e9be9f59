"""Where graphs come from (``workflows/`` modules, precise errors) and the engine's step seams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphapp import write_graph_app

from agentdown.app.catalog import load_app
from agentdown.app.diagnostics import AppLoadError
from agentdown.workflows import Executor, WorkflowBuilder, WorkflowContext, handler
from agentdown.workflows.checkpoint_io import checkpoint_of, runner_from_checkpoint
from agentdown.workflows.errors import CheckpointMismatchError
from agentdown.workflows.routing import QueuedMessage
from agentdown.workflows.runner import Runner
from agentdown.workflows.steps import (
    StepFailedError,
    TargetResult,
    commit_superstep,
    decode_deliveries,
    encode_deliveries,
    plan_superstep,
    run_target,
)


def test_the_catalog_finds_module_objects_and_factories(tmp_path: Path) -> None:
    catalog = load_app(write_graph_app(tmp_path), environ={})
    graphs = catalog.workflow_graphs
    assert list(graphs) == ["chain", "triage"]
    assert graphs["triage"].build() is graphs["triage"].workflow
    assert graphs["chain"].build() is not graphs["chain"].build()  # a factory: a fresh graph per step
    assert graphs["chain"].build().graph_signature == graphs["chain"].workflow.graph_signature
    assert graphs["triage"].file.name == "triage.py" and graphs["triage"].line > 0


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        (
            "x = 1\nraise RuntimeError('boom')\n",
            2,
            "importing this workflow module failed: RuntimeError: boom",
        ),
        ("def build_workflow():\n    return 3\n", 1, "build_workflow() must return a Workflow"),
        ("def build_workflow():\n    raise ValueError('no')\n", 2, "build_workflow() raised ValueError: no"),
        ("x = 1\n", 0, "defines no workflow"),
        ("def f(:\n", 1, "SyntaxError"),
    ],
)
def test_a_broken_module_is_an_error_with_its_line(
    tmp_path: Path, source: str, line: int, message: str
) -> None:
    app = write_graph_app(tmp_path)
    (app / "workflows" / "bad.py").write_text(source)
    catalog = load_app(app, environ={})
    with pytest.raises(AppLoadError) as caught:
        _ = catalog.workflow_graphs
    [problem] = caught.value.problems
    assert problem.file == app / "workflows" / "bad.py" and problem.line == line
    assert message in problem.message


def test_two_graphs_of_one_name_are_an_error(tmp_path: Path) -> None:
    app = write_graph_app(tmp_path)
    text = (app / "workflows" / "chain.py").read_text()
    (app / "workflows" / "chain2.py").write_text(text)
    with pytest.raises(AppLoadError, match="a workflow named 'chain' is already defined"):
        _ = load_app(app, environ={}).workflow_graphs


class Fan(Executor):
    @handler
    async def go(self, n: int, ctx: WorkflowContext[int]) -> None:
        await ctx.send_message(n)


class Leaf(Executor):
    @handler
    async def leaf(self, n: int, ctx: WorkflowContext[int]) -> None:
        ctx.set_state("last", self.id)
        ctx.set_state(self.id, n)
        await ctx.send_message(n * 10)


class Total(Executor):
    @handler
    async def total(self, parts: list[int], ctx: WorkflowContext[Any, int]) -> None:
        await ctx.yield_output(sum(parts) + len(ctx.get_state("last")))


def graph() -> Any:
    fan, total = Fan("fan"), Total("total")
    leaves = [Leaf(f"leaf{i}") for i in range(3)]
    return (
        WorkflowBuilder(start_executor=fan, name="g")
        .add_fan_out_edges(fan, leaves)
        .add_fan_in_edges(leaves, total)
        .build()
    )


async def test_steps_apart_give_what_the_in_process_run_gives() -> None:
    workflow = graph()
    expected = await graph().run(2)
    runner = Runner(workflow)
    runner.queue.append(QueuedMessage(None, "fan", 2))
    outputs: list[Any] = []
    while runner.queue:
        boundary = await checkpoint_of(workflow, runner)
        deliveries = await plan_superstep(runner)
        results = []
        for target, items in deliveries.items():
            apart = await runner_from_checkpoint(workflow, boundary)
            wire = encode_deliveries(items)  # as a job carries them
            result = await run_target(apart, target, decode_deliveries(wire))
            results.append(TargetResult.from_json(result.to_json()))
        outputs += [d for kind, _, d in await commit_superstep(runner, results) if kind == "output"]
    assert outputs == expected.get_outputs() == [60 + len("leaf2")]
    assert runner.state == {
        "last": "leaf2",
        "leaf0": 2,
        "leaf1": 2,
        "leaf2": 2,
    }  # last write wins, delivery order


async def test_a_failed_target_fails_the_commit_and_a_foreign_checkpoint_is_refused() -> None:
    class Boom(Executor):
        @handler
        async def boom(self, n: int, ctx: WorkflowContext[int]) -> None:
            raise ValueError("bad input")

    workflow = WorkflowBuilder(start_executor=Boom("boom"), name="b").build()
    runner = Runner(workflow)
    runner.queue.append(QueuedMessage(None, "boom", 1))
    deliveries = await plan_superstep(runner)
    result = await run_target(Runner(workflow), "boom", deliveries["boom"])
    assert result.error is not None and result.error.message == "bad input"
    with pytest.raises(StepFailedError, match="executor 'boom' failed: ValueError: bad input"):
        await commit_superstep(runner, [TargetResult.from_json(result.to_json())])
    with pytest.raises(CheckpointMismatchError, match="another graph"):
        await runner_from_checkpoint(graph(), await checkpoint_of(workflow, runner))
