"""Workflow graph steps on Azure Functions: a queue-triggered function calls :func:`handle_step_message`.

The function is bound to the ``agentdown-workflow-steps`` queue of the app's storage
account; the platform deletes the message when the function returns and delivers it
again (after its visibility timeout) when it raises, which is the retry. A job that
arrives before its step is recorded raises :class:`StepNotReady`, so it comes back.

    service = GraphService(store, queue, catalog.workflow_graphs)   # once per host
    @app.queue_trigger(arg_name="msg", queue_name="agentdown-workflow-steps", connection="AzureWebJobsStorage")
    async def workflow_step(msg: func.QueueMessage) -> None:
        await handle_step_message(service, msg.get_body().decode())
"""

from __future__ import annotations

import logging

from agentdown.runtime.workflow_graphs.service import GraphService

__all__ = ["StepNotReady", "handle_step_message"]

logger = logging.getLogger("agentdown.workflow_graphs")


class StepNotReady(Exception):
    """The job's superstep is not recorded yet: let the platform deliver it again."""


async def handle_step_message(service: GraphService, text: str) -> None:
    """Execute one step job given as the message text; raises to have it delivered again."""
    try:
        outcome = await service.engine.handle(text)
    except ValueError as exc:  # not a job: it would fail the same way every time
        logger.warning("workflow steps: dropping a message that is no job: %s", exc)
        return
    if outcome == "early":
        raise StepNotReady("the job's superstep is not recorded yet; it will be delivered again")
