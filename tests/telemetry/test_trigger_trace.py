"""A trigger invocation gets its span (and joins a trace a JSON queue message carries)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from otelkit import Otel, parent_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "triggers"))

from _triggers_apps import agent_file, base_environ, eventually, make_app, unique

from agentdown import telemetry
from agentdown.app import load_app
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.runtime.queues import open_queue_service, resolve_account
from agentdown.runtime.triggers import TriggerHost
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, FunctionModel

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def test_a_queue_trigger_invocation_is_a_span_joined_to_the_message_trace(
    otel: Otel, tmp_path: Path
) -> None:
    environ = base_environ(tmp_path / "data")
    queue = unique("orders")
    answered: list[str] = []

    def model(messages: list[Message], info: CallInfo) -> str:
        answered.append(messages[-1].text)
        return "handled"

    app = make_app(
        tmp_path, {"worker": agent_file(f"  type: queue_trigger\n  args:\n    queue_name: {queue}\n")}
    )
    runner = Runner(load_app(app, model=FunctionModel(model)), SqliteSessionStore(tmp_path / "s.db"))
    host = TriggerHost(runner, environ=environ)
    await host.start()
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        await service.queue(queue).create()
        await service.queue(queue).send(json.dumps({"order": 1, "traceparent": TRACEPARENT}))
        await service.queue(queue).send("plain words")
        await eventually(lambda: len(answered) == 2)
        await eventually(lambda: len(otel.named("queue_trigger")) == 2)
    finally:
        await host.stop()
        await service.aclose()
    spans = otel.named("queue_trigger worker")
    assert len(spans) == 2
    joined = [s for s in spans if format(s.context.trace_id, "032x") == TRACE_ID]
    assert len(joined) == 1
    assert [s.parent for s in spans if s not in joined] == [None]  # no traceparent: a trace of its own
    for span in spans:
        assert span.kind == telemetry.SpanKind.CONSUMER
        attrs = span.attributes or {}
        assert (
            attrs["agentdown.trigger.type"] == "queue_trigger"
            and attrs["agentdown.run.status"] == "completed"
        )
        agent = [a for a in otel.named("invoke_agent") if parent_of(a) == span.context.span_id]
        assert len(agent) == 1
    runs = otel.metrics()["agentdown.runs"]
    triggers = [p for p in runs if p.attributes["agentdown.run.kind"] == "trigger"]
    assert [(p.attributes["agentdown.run.status"], p.value) for p in triggers] == [("completed", 2)]
