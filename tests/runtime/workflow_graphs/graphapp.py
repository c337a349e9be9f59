"""The app folder the workflow-graph tests run: a fan-out/fan-in graph with a human approval."""

from __future__ import annotations

from pathlib import Path

TRIAGE = """
import asyncio
import os
from dataclasses import dataclass

from agentdown.workflows import Executor, FunctionExecutor, WorkflowBuilder, WorkflowContext, executor, handler, response_handler


def mark(name: str) -> None:
    path = os.environ.get("MARKER_FILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{name} {os.getpid()}\\n")


@dataclass
class Approval:
    summary: str


@executor(id="split")
async def split(text: str, ctx: WorkflowContext[str]) -> None:
    mark("split")
    ctx.set_state("ticket", text)
    await ctx.send_message(text)


def _checker(name: str) -> FunctionExecutor:
    async def check(text: str) -> str:
        path = os.environ.get("MARKER_FILE")
        first = not path or not os.path.exists(path) or f"{name} " not in open(path).read()
        mark(name)
        delay = float(os.environ.get("SLOW_" + name, "0") or 0)
        if delay and first:  # only the first invocation is slow (the one a test kills)
            await asyncio.sleep(delay)
        return f"{name}:{text}"

    return FunctionExecutor(check, id=name)


class Join(Executor):
    @handler
    async def join(self, parts: list[str], ctx: WorkflowContext[str, str]) -> None:
        mark("join")
        ctx.set_state("parts", parts)
        await ctx.request_info(Approval(" + ".join(parts)), bool)

    @response_handler
    async def answered(self, request: Approval, ok: bool, ctx: WorkflowContext[str, str]) -> None:
        mark("answered")
        ticket = ctx.get_state("ticket")
        await ctx.yield_output(f"{ticket}: {'approved' if ok else 'rejected'} [{request.summary}]")


checkers = [_checker(n) for n in ("billing", "security", "product")]
join = Join("join")
workflow = (
    WorkflowBuilder(start_executor=split, name="triage")
    .add_fan_out_edges(split, checkers)
    .add_fan_in_edges(checkers, join)
    .build()
)
"""

CHAIN = """
from agentdown.workflows import Executor, WorkflowBuilder, WorkflowContext, handler


class Count(Executor):
    @handler
    async def step(self, n: int, ctx: WorkflowContext[int, int]) -> None:
        if n >= 3:
            await ctx.yield_output(n)
        else:
            await ctx.send_message(n + 1)


def build_workflow():
    count = Count("count")
    return WorkflowBuilder(start_executor=count, name="chain", max_iterations=10).add_edge(count, count).build()
"""

HELPER = "---\nname: Helper\ndescription: Helps.\n---\nBe helpful.\n"


def write_graph_app(root: Path) -> Path:
    app = root / "app"
    (app / "workflows").mkdir(parents=True, exist_ok=True)
    (app / "helper.agent.md").write_text(HELPER)
    (app / "workflows" / "triage.py").write_text(TRIAGE)
    (app / "workflows" / "chain.py").write_text(CHAIN)
    return app
