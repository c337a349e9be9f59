"""The ``invoke_agent`` span around one run of the loop (see :mod:`agentdown.telemetry`).

The span is current while the loop computes each event, so the ``chat`` spans of its model
calls and the ``execute_tool`` spans of its tool calls nest under it, even though the
loop is an async generator its caller drives.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from agentdown import telemetry
from agentdown.loop.events import RunCompletedEvent, RunEvent
from agentdown.models.tracing import provider_of

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from agentdown.loop.engine import RunSetup

__all__ = ["traced_run"]


def traced_run(
    events: AsyncGenerator[RunEvent, None], setup: RunSetup, *, agent_id: str | None = None
) -> AsyncGenerator[RunEvent, None]:
    """``events`` inside an ``invoke_agent`` span; ``events`` itself when telemetry is off."""
    if telemetry.active() is None:
        return events
    session = setup.session
    model = setup.options.model or setup.model.model_name
    s = telemetry.agent_span(
        setup.author_name,
        agent_id=agent_id,
        conversation_id=session.id if session is not None else None,
        model=model,
        provider=provider_of(setup.model),
    )
    if s is None:
        return events
    outcome: list[str] = []

    def on_item(span: Span, event: RunEvent) -> None:
        if isinstance(event, RunCompletedEvent):
            result = event.result
            outcome.append(str(result.status))
            span.set_attributes(
                {
                    "gen_ai.usage.input_tokens": result.usage.input_tokens,
                    "gen_ai.usage.output_tokens": result.usage.output_tokens,
                    "agentdown.run.status": str(result.status),
                }
            )
            telemetry.set_content(
                span, "gen_ai.output.messages", lambda: [m.to_dict() for m in result.messages]
            )

    def on_end(span: Span, duration: float, error: BaseException | None) -> None:
        span.end()
        status = outcome[0] if outcome else ("failed" if error is not None else "cancelled")
        telemetry.count_run("agent", status)

    return telemetry.traced_generator(events, s, on_item, on_end=on_end)
