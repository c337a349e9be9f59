"""The durable graph engine's cost per superstep on the embedded queue, beside the in-process engine.

The same two graphs as ``bench/workflows_inprocess.py`` (executors that do nothing):

1. **Chain** of N single-target supersteps (an executor with an edge to itself):
   reported as ms per superstep, durable and in-process. Every durable step is a job on
   the embedded SQLite queue, a result record, a compare-and-set on the run record, a
   checkpoint in SQLite and the next step's job.
2. **Fan-out / fan-in** over W workers (W + 2 target invocations in 3 supersteps):
   reported as target invocations ("steps") per second and ms per step. Target: durable
   <= 5 ms per step.

One process consumes (``AGENTDOWN_WORKFLOW_STEP_CONCURRENCY``-like ``--concurrency``), as
``agentdown serve`` does; the stores live in a temporary folder.

Usage: python bench/workflows_durable.py [--steps 200] [--width 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from agentdown.app.workflow_graphs import WorkflowGraph
from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore
from agentdown.runtime.queues.sqlite import SqliteQueueService
from agentdown.runtime.workflow_graphs import GraphService, GraphSettings
from agentdown.runtime.workflow_graphs.checkpoints import RecordCheckpointStorage
from agentdown.workflows import Executor, Workflow, WorkflowBuilder, WorkflowContext, handler


class Counter(Executor):
    def __init__(self, limit: int) -> None:
        super().__init__("counter")
        self.limit = limit

    @handler
    async def step(self, n: int, ctx: WorkflowContext[int, int]) -> None:
        if n >= self.limit:
            await ctx.yield_output(n)
        else:
            await ctx.send_message(n + 1)


class Start(Executor):
    @handler
    async def go(self, n: int, ctx: WorkflowContext[int]) -> None:
        await ctx.send_message(n)


class Work(Executor):
    @handler
    async def work(self, n: int, ctx: WorkflowContext[int]) -> None:
        await ctx.send_message(n + 1)


class Sum(Executor):
    @handler
    async def total(self, parts: list[int], ctx: WorkflowContext[Any, int]) -> None:
        await ctx.yield_output(sum(parts))


def chain_graph(steps: int) -> Workflow:
    counter = Counter(steps)
    return (
        WorkflowBuilder(start_executor=counter, name="chain", max_iterations=steps + 10)
        .add_edge(counter, counter)
        .build()
    )


def fan_graph(width: int) -> Workflow:
    start, total = Start("start"), Sum("sum")
    workers = [Work(f"w{i}") for i in range(width)]
    return (
        WorkflowBuilder(start_executor=start, name="fan")
        .add_fan_out_edges(start, workers)
        .add_fan_in_edges(workers, total)
        .build()
    )


async def in_process(workflow: Workflow, message: Any) -> float:
    began = time.perf_counter()
    result = await workflow.run(message)
    assert result.get_outputs(), result
    return time.perf_counter() - began


async def durable(service: GraphService, name: str, message: Any) -> float:
    began = time.perf_counter()
    run = await service.engine.start(name, message, "")
    while True:
        body = (await service.engine.get(name, run["id"], "")).body
        if body["status"] != "IN_PROGRESS":
            break
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - began
    assert body["status"] == "IDLE" and body["outputs"], body
    return elapsed


async def main(steps: int, width: int, concurrency: int) -> None:
    chain, fan = chain_graph(steps), fan_graph(width)
    graphs = {
        "chain": WorkflowGraph("chain", Path(__file__), 0, chain),
        "fan": WorkflowGraph("fan", Path(__file__), 0, fan),
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteAgentsStore(Path(tmp) / "agents.db")
        queues = SqliteQueueService(Path(tmp) / "queues.db")
        checkpoints = RecordCheckpointStorage(store)
        settings = GraphSettings(visibility_seconds=30, concurrency=concurrency, poll_seconds=0.05)
        service = GraphService(
            store,
            queues.queue("agentdown-workflow-steps"),
            graphs,
            checkpoints=checkpoints,
            settings=settings,
        )
        await service.start()
        try:
            await durable(service, "chain", steps - 3)  # warm up
            base = await in_process(chain_graph(steps), 0)
            took = await durable(service, "chain", 0)
            print(f"chain of {steps} single-target supersteps:")
            print(f"  in-process  {base / steps * 1000:8.3f} ms per superstep")
            print(f"  durable     {took / steps * 1000:8.3f} ms per superstep (embedded queue, SQLite)")
            invocations = width + 2
            base = await in_process(fan, 1)
            took = await durable(service, "fan", 1)
            print(f"fan-out / fan-in over {width} workers (3 supersteps, {invocations} invocations):")
            print(
                f"  in-process  {invocations / base:10.0f} steps/s ({base / invocations * 1000:.3f} ms per step)"
            )
            verdict = "ok" if took / invocations <= 0.005 else "over"
            print(
                f"  durable     {invocations / took:10.0f} steps/s ({took / invocations * 1000:.3f} ms per step; "
                f"target <= 5 ms: {verdict})"
            )
        finally:
            await service.aclose()
            await queues.aclose()
            await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.width, args.concurrency))
