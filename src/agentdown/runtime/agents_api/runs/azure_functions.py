"""The Agents API's ``azure_function`` tool: a call through storage queues, answered by a function.

The definition names an input and an output queue on a queue service; the call's
arguments plus a ``CorrelationId`` go to the input queue and the run waits for
``{"Value", "CorrelationId"}`` on the output queue (:class:`~agentdown.runtime.queue_tools.QueueTool`
does the queue work). As in the service, there is no timeout per call: the run waits
until its ``expires_at`` and then ends ``expired``.

The correlation id is derived from the run and the tool call, not drawn at random,
so a worker that takes the run over after the first one died waits for the reply
to the call already sent instead of sending it again (:func:`resume`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentdown.runtime.agents_api.errors import bad_request
from agentdown.runtime.queue_tools import QueueTool
from agentdown.runtime.queue_tools.endpoints import account_for_endpoint
from agentdown.tools.context import FunctionInvocationContext

__all__ = ["AzureFunctionTool", "correlation_id"]


def correlation_id(run_id: str, call_id: str, deadline: float) -> str:
    """The call's CorrelationId: in the queue tools' shape, owned by no process, live until ``deadline``.

    Every reader of the output queue hands a reply it does not wait for back to the
    queue until the deadline, so whichever worker executes the run gets it.
    """
    tag = "".join(ch for ch in f"{run_id}{call_id}" if ch.isalnum())[-48:]
    return f"qt1-run-{max(1, int(deadline * 1000))}-{tag}"


class AzureFunctionTool:
    """An ``azure_function`` definition as a tool of one run (whose deadline is its ``expires_at``)."""

    kind = "azure_function"

    def __init__(
        self,
        definition: Mapping[str, Any],
        *,
        run_id: str,
        deadline: float,
        environ: Mapping[str, str] | None,
    ) -> None:
        spec = definition["azure_function"]
        function = spec["function"]
        source = spec["input_binding"]["storage_queue"]
        sink = spec["output_binding"]["storage_queue"]
        if source["queue_service_endpoint"].rstrip("/") != sink["queue_service_endpoint"].rstrip("/"):
            raise bad_request(
                "azure_function: the input and output queues must be on one queue service "
                f"({source['queue_service_endpoint']} and {sink['queue_service_endpoint']} differ)",
                "azure_function.output_binding.storage_queue.queue_service_endpoint",
            )
        try:
            account = account_for_endpoint(source["queue_service_endpoint"], environ)
            self.queue = QueueTool(
                str(function["name"]),
                str(function.get("description") or ""),
                function.get("parameters") or {"type": "object", "properties": {}},
                input_queue=str(source["queue_name"]),
                output_queue=str(sink["queue_name"]),
                timeout=None,
                account=account,
            )
        except ValueError as exc:  # ConfigurationError included: a bad queue name, an unknown endpoint
            raise bad_request(f"azure_function {function.get('name')!r}: {exc}", "tools") from exc
        self.name = self.queue.name
        self.description = self.queue.description
        self.approval_mode = "never_require"
        self.additional_properties: dict[str, Any] = {}
        self.run_id = run_id
        self.deadline = deadline

    @property
    def parameters(self) -> dict[str, Any]:
        return self.queue.parameters

    async def invoke(
        self, arguments: dict[str, Any], context: FunctionInvocationContext | None = None
    ) -> Any:
        call_id = context.call_id if context is not None and context.call_id else "call"
        cid = correlation_id(self.run_id, call_id, self.deadline)
        await self.queue.send(arguments, cid, deadline=self.deadline)
        return await self.queue.wait(cid, self.deadline)

    async def resume(self, call_id: str) -> Any:
        """The reply to a call a previous worker sent (it is not sent again)."""
        return await self.queue.wait(correlation_id(self.run_id, call_id, self.deadline), self.deadline)
