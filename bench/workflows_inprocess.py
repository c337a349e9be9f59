"""The in-process workflow engine's own cost per superstep, against the same work as plain awaits.

Two graphs whose executors do (almost) nothing, so what is measured is the engine:

1. **Chain**: one executor with an edge to itself, sending ``n + 1`` until ``n`` reaches
   N, so a run is N supersteps of one message each. Reported: µs per superstep, beside
   N awaited calls of the same function (the baseline). Target: the engine adds at most
   0.2 ms per step.
2. **Fan-out / fan-in**: a start executor fans out to W workers, whose answers fan in
   to one aggregator (3 supersteps, W + 2 executor invocations). Reported: executor
   invocations per second, beside the same work as ``asyncio.gather`` of W awaited calls.

Each figure is the best of ``--repeat`` runs (the least disturbed by other processes).

Usage: python bench/workflows_inprocess.py [--steps 2000] [--width 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from agentdown.workflows import Executor, WorkflowBuilder, WorkflowContext, executor, handler


class Counter(Executor):
    """Counts to ``limit`` one superstep at a time."""

    def __init__(self, limit: int) -> None:
        super().__init__("counter")
        self.limit = limit

    @handler
    async def step(self, n: int, ctx: WorkflowContext[int, int]) -> None:
        if n >= self.limit:
            await ctx.yield_output(n)
        else:
            await ctx.send_message(n + 1)


async def _plain_step(n: int) -> int:
    return n + 1


async def chain(steps: int, repeat: int) -> tuple[float, float]:
    """(engine µs per superstep, baseline µs per call)."""
    counter = Counter(steps)
    workflow = (
        WorkflowBuilder(start_executor=counter, max_iterations=steps + 1).add_edge(counter, counter).build()
    )
    best_engine = best_plain = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = await workflow.run(0)
        best_engine = min(best_engine, time.perf_counter() - start)
        assert result.get_outputs() == [steps]
        start = time.perf_counter()
        n = 0
        while n < steps:
            n = await _plain_step(n)
        best_plain = min(best_plain, time.perf_counter() - start)
    return best_engine / (steps + 1) * 1e6, best_plain / steps * 1e6


async def fan(width: int, repeat: int) -> tuple[float, float, float]:
    """(engine seconds per run, engine invocations/s, baseline invocations/s)."""

    @executor(id="start")
    async def start(n: int) -> int:
        return n

    async def work(n: int) -> int:
        return n + 1

    workers = [executor(id=f"w{i}")(work) for i in range(width)]

    @executor(id="total")
    async def total(parts: list[int]) -> int:
        return sum(parts)

    workflow = (
        WorkflowBuilder(start_executor=start)
        .add_fan_out_edges(start, workers)
        .add_fan_in_edges(workers, total)
        .build()
    )
    invocations = width + 2
    best_engine = best_plain = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        result = await workflow.run(1)
        best_engine = min(best_engine, time.perf_counter() - began)
        assert result.get_outputs() == [2 * width]
        began = time.perf_counter()
        first = await work(0)
        parts: list[Any] = await asyncio.gather(*(work(first) for _ in range(width)))
        await work(sum(parts))
        best_plain = min(best_plain, time.perf_counter() - began)
    return best_engine, invocations / best_engine, invocations / best_plain


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    per_step, per_call = await chain(args.steps, args.repeat)
    print(f"chain of {args.steps} supersteps (1 executor, self-loop):")
    print(f"  engine    {per_step:8.1f} µs per superstep")
    print(f"  baseline  {per_call:8.2f} µs per awaited call")
    overhead_ms = (per_step - per_call) / 1000
    verdict = "ok" if overhead_ms <= 0.2 else "OVER TARGET"
    print(f"  overhead  {overhead_ms:8.3f} ms per step (target <= 0.2 ms: {verdict})")

    seconds, engine_rate, plain_rate = await fan(args.width, args.repeat)
    print(f"fan-out / fan-in over {args.width} workers (3 supersteps, {args.width + 2} invocations):")
    print(f"  engine    {engine_rate:10.0f} invocations/s ({seconds * 1000:.1f} ms per run)")
    print(f"  baseline  {plain_rate:10.0f} invocations/s (asyncio.gather of plain awaits)")
    print(f"  overhead  {(seconds / (args.width + 2)) * 1e6 - 1e6 / plain_rate:8.1f} µs per invocation")


if __name__ == "__main__":
    asyncio.run(main())
