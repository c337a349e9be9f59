"""``WorkflowExecutor``: a whole workflow as one node of another."""

from __future__ import annotations

from typing import Any

from agentdown.workflows.checkpoint_io import apply_snapshot, snapshot
from agentdown.workflows.context import WorkflowContext
from agentdown.workflows.events import WorkflowRunResult
from agentdown.workflows.executor import Executor, HandlerSpec, ResponseHandlerSpec
from agentdown.workflows.workflow import Workflow

__all__ = ["WorkflowExecutor"]


class WorkflowExecutor(Executor):
    """Runs ``workflow`` on each message it receives and passes the sub-workflow's outputs on.

    It accepts what the sub-workflow's start executor accepts. Each output of the
    sub-workflow is sent along this node's edges (or yielded, when it has none). A
    ``request_info`` inside the sub-workflow is asked outside under the same request id,
    and the answer resumes the sub-workflow. The sub-workflow keeps its own state; its
    whole run (state, queue, pending requests) is saved in the outer workflow's checkpoints.
    A ``Workflow`` object runs once at a time, so give each ``WorkflowExecutor`` its own.
    """

    def __init__(self, workflow: Workflow, id: str) -> None:
        super().__init__(id)
        self.workflow = workflow
        """The wrapped sub-workflow."""
        produced = tuple(
            dict.fromkeys(
                t
                for eid, ex in workflow.executors.items()
                if workflow.outputs.classify(eid) == "output"
                for t in ex.workflow_output_types
            )
        )
        inputs = tuple(workflow.executors[workflow.start_executor_id].input_types)
        self.handlers.append(HandlerSpec("run_workflow", self._run, inputs, produced, produced))
        self.response_handlers.append(
            ResponseHandlerSpec("answer_workflow", self._answer, (Any,), (Any,), produced, produced)
        )

    def signature_parts(self) -> list[str]:
        # A checkpoint holds the sub-workflow's run too, so its graph must match as well.
        return [self.workflow.graph_signature]

    async def _run(self, message: Any, ctx: WorkflowContext[Any, Any]) -> None:
        await self._forward(await self.workflow.run(message), ctx)

    async def _answer(self, request: Any, response: Any, ctx: WorkflowContext[Any, Any]) -> None:
        request_id = ctx.answering_request_id
        assert request_id is not None  # the engine sets it for every answer
        await self._forward(await self.workflow.run(responses={request_id: response}), ctx)

    async def _forward(self, result: WorkflowRunResult, ctx: WorkflowContext[Any, Any]) -> None:
        terminal = ctx.is_terminal()
        for output in result.get_outputs():
            if terminal:
                await ctx.yield_output(output)
            else:
                await ctx.send_message(output)
        for event in result.get_request_info_events():
            await ctx.request_info(event.data, event.response_type, request_id=event.request_id)

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"run": await snapshot(self.workflow, self.workflow._runner)}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        if "run" in state:
            where = f"the run of sub-workflow {self.id!r}"
            await apply_snapshot(self.workflow, self.workflow._runner, state["run"], where)
