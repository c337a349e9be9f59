"""A queue-tool call joins its run's trace: the caller's message carries traceparent, our own
``worker --queue-tools`` side strips it before validating the arguments and continues it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from otelkit import Otel, parent_of

from agentdown import Agent, telemetry
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime.queue_tools import QueueTool, aclose_shared
from agentdown.runtime.queue_tools.replies import call_body
from agentdown.runtime.queue_tools.server import QueueFunctionHost, ServedTool
from agentdown.runtime.queues import open_queue_service, resolve_account
from agentdown.testing import FakeModelServer
from agentdown.tools.function import FunctionTool

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def get_weather(city: str) -> dict[str, str]:
    """Weather for a city (the worker-side tool: its schema allows no other key)."""
    return {"city": city, "forecast": f"sunny in {city}"}


def with_traceparent(city: str, traceparent: str) -> dict[str, str]:
    """A tool that happens to declare a parameter named traceparent."""
    return {"city": city, "traceparent": traceparent}


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AGENTDOWN_QUEUE_MAX_POLLING_INTERVAL": "0.05",
        "AGENTDOWN_QUEUE_LEASE_SECONDS": "2",
        "AGENTDOWN_DRAIN_SECONDS": "1",
    }


async def _worker(environ: dict[str, str], tool: Any, inq: str, outq: str) -> QueueFunctionHost:
    host = QueueFunctionHost([ServedTool(FunctionTool(tool), inq, outq)], environ=environ)
    await host.start()
    return host


async def test_queue_tool_call_joins_the_run_trace(otel: Otel, environ: dict[str, str]) -> None:
    queue_tool = QueueTool(
        "GetWeather", "Weather.", SCHEMA, input_queue="wx-in", output_queue="wx-out", environ=environ
    )
    host = await _worker(environ, get_weather, "wx-in", "wx-out")
    try:
        async with (
            FakeModelServer() as fake,
            OpenAIChatModel("fake-model", base_url=fake.base_url, api_key="k") as model,
        ):
            result = await Agent(model, tools=[queue_tool], name="caller").run("weather?")
        assert "sunny in test" in result.text
    finally:
        await host.stop()
        await aclose_shared()
    agent = otel.one("invoke_agent")
    caller = otel.one("execute_tool GetWeather")
    process = otel.one("process wx-in")
    worker = otel.one("execute_tool get_weather")
    trace_id = agent.context.trace_id
    assert {caller.context.trace_id, process.context.trace_id, worker.context.trace_id} == {trace_id}
    assert parent_of(caller) == agent.context.span_id
    assert parent_of(process) == caller.context.span_id  # continued from the message's traceparent
    assert parent_of(worker) == process.context.span_id
    assert process.kind == telemetry.SpanKind.CONSUMER
    assert (process.attributes or {})["messaging.destination.name"] == "wx-in"
    # The worker validated the arguments without the trace keys: no error.
    assert "error.type" not in (worker.attributes or {})


async def test_the_body_gets_traceparent_only_with_telemetry_on(otel: Otel) -> None:
    telemetry.uninstall()
    assert json.loads(call_body({"city": "Oslo"}, "c1")) == {"city": "Oslo", "CorrelationId": "c1"}
    from otelkit import install

    install()
    try:
        # On, but no span current: nothing to propagate.
        assert "traceparent" not in json.loads(call_body({"city": "Oslo"}, "c1"))
        with telemetry.span("caller") as s:
            assert s is not None
            body = json.loads(call_body({"city": "Oslo"}, "c1"))
            assert body["traceparent"].split("-")[1] == format(s.get_span_context().trace_id, "032x")
            # An argument of that name is the model's and stays as it is.
            kept = json.loads(call_body({"city": "Oslo", "traceparent": "mine"}, "c1"))
            assert kept["traceparent"] == "mine"
    finally:
        telemetry.uninstall()


async def _send_raw(environ: dict[str, str], queue: str, body: dict[str, Any]) -> None:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        await service.queue(queue).create()
        await service.queue(queue).send(json.dumps(body))
    finally:
        await service.aclose()


async def _reply(environ: dict[str, str], queue: str) -> dict[str, Any]:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        q = service.queue(queue)
        await q.create()
        for _ in range(200):
            messages = await q.receive(1, 5)
            if messages:
                await q.delete(messages[0])
                reply: dict[str, Any] = json.loads(messages[0].text or "")
                return reply
            await asyncio.sleep(0.05)
    finally:
        await service.aclose()
    raise AssertionError("no reply")


@pytest.mark.parametrize("on", [True, False])
async def test_worker_strips_forged_or_invalid_trace_keys(
    otel: Otel, environ: dict[str, str], on: bool
) -> None:
    if not on:
        telemetry.uninstall()  # a caller with telemetry on, a worker with it off: still stripped
    host = await _worker(environ, get_weather, "forged-in", "forged-out")
    try:
        await _send_raw(
            environ,
            "forged-in",
            {"city": "Rome", "CorrelationId": "c9", "traceparent": "00-zz-not-a-trace", "tracestate": 5},
        )
        reply = await _reply(environ, "forged-out")
    finally:
        await host.stop()
    assert reply == {"Value": {"city": "Rome", "forecast": "sunny in Rome"}, "CorrelationId": "c9"}
    if on:
        # The invalid header is ignored: the worker span starts a trace of its own.
        assert otel.one("process forged-in").parent is None


async def test_a_declared_traceparent_parameter_is_an_argument(otel: Otel, environ: dict[str, str]) -> None:
    host = await _worker(environ, with_traceparent, "decl-in", "decl-out")
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    try:
        await _send_raw(environ, "decl-in", {"city": "Rome", "CorrelationId": "c1", "traceparent": tp})
        reply = await _reply(environ, "decl-out")
    finally:
        await host.stop()
    assert reply["Value"] == {"city": "Rome", "traceparent": tp}
    assert otel.one("process decl-in").parent is None  # not read as trace context
