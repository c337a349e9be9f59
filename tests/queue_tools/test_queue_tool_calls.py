"""QueueTool against real peers: timeout, late, duplicate and unparseable replies, and a Markdown agent end to end."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from _functions import SdkFunction, serve_embedded, unique

from agentdown.app.catalog import load_app
from agentdown.messages import Message
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.runtime.queue_tools import QueueTool, QueueToolTimeoutError, aclose_shared
from agentdown.runtime.queues import open_queue_service, resolve_account
from agentdown.runtime.runner import Runner
from agentdown.sessions import store_from_env
from agentdown.testing import CallInfo, FakeModelServer, tool_call

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def weather(payload: dict[str, Any]) -> Any:
    return {"city": payload["city"], "forecast": f"sunny in {payload['city']}"}


def make_tool(environ: dict[str, str], inq: str, outq: str, **kw: Any) -> QueueTool:
    return QueueTool(
        "GetWeather", "Weather.", SCHEMA, input_queue=inq, output_queue=outq, environ=environ, **kw
    )


class Function:
    """The stand-in function of the backend: the SDK one on Azurite, ours on the embedded queue."""

    def __init__(
        self,
        backend: str,
        environ: dict[str, str],
        inq: str,
        outq: str,
        handler: Any = weather,
        copies: int = 1,
    ) -> None:
        self.backend, self.environ, self.inq, self.outq = backend, environ, inq, outq
        self.handler, self.copies = handler, copies

    async def __aenter__(self) -> Function:
        if self.backend == "azure":
            assert self.copies == 1
            self.sdk = SdkFunction(self.environ["AzureWebJobsStorage"], self.inq, self.outq, self.handler)
            self.sdk.__enter__()
        else:
            self.stop = asyncio.Event()
            self.task = asyncio.create_task(
                serve_embedded(self.environ, self.inq, self.outq, self.handler, self.stop, copies=self.copies)
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.backend == "azure":
            await asyncio.to_thread(self.sdk.__exit__)
        else:
            self.stop.set()
            await self.task


async def raw_send(environ: dict[str, str], queue: str, body: str | bytes) -> None:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ), encoding="none")
    try:
        await service.queue(queue).create()
        await service.queue(queue).send(body)
    finally:
        await service.aclose()


async def count(environ: dict[str, str], queue: str) -> int:
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        await service.queue(queue).create()
        return await service.queue(queue).approximate_count()
    finally:
        await service.aclose()


async def test_a_call_gets_its_value_and_the_message_is_what_functions_expect(
    backend: str, environ: dict[str, str]
) -> None:
    inq, outq = unique("in"), unique("out")
    tool = make_tool(environ, inq, outq)
    try:
        async with Function(backend, environ, inq, outq) as fn:
            value = await tool.invoke({"city": "Oslo"})
            assert value == {"city": "Oslo", "forecast": "sunny in Oslo"}
            if backend == "azure":
                # Decoded with the SDK's base64 policy: one flat object plus CorrelationId.
                (call,) = fn.sdk.calls
                assert call["city"] == "Oslo" and isinstance(call["CorrelationId"], str)
                assert set(call) == {"city", "CorrelationId"}
    finally:
        await aclose_shared()


async def test_parallel_calls_each_get_their_own_value(backend: str, environ: dict[str, str]) -> None:
    inq, outq = unique("in"), unique("out")
    tool = make_tool(environ, inq, outq)
    cities = [f"city{i}" for i in range(40)]
    try:
        async with Function(backend, environ, inq, outq):
            values = await asyncio.gather(*(tool.invoke({"city": c}) for c in cities))
        assert [v["city"] for v in values] == cities
    finally:
        await aclose_shared()


async def test_no_reply_is_a_timeout_the_model_reads_and_a_late_reply_is_dropped(
    backend: str, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    inq, outq = unique("in"), unique("out")
    tool = make_tool(environ, inq, outq, timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(QueueToolTimeoutError, match=r"GetWeather did not answer within 0\.5 s"):
            await tool.invoke({"city": "Oslo"})
        assert time.monotonic() - started < 3
        # The function answers now: the reply is late, logged and deleted, never handed to another call.
        caplog.set_level(logging.WARNING, "agentdown.queue_tools")
        async with Function(backend, environ, inq, outq):
            second = make_tool(environ, inq, outq, timeout=20)
            assert (await second.invoke({"city": "Bergen"}))["city"] == "Bergen"
            deadline = time.monotonic() + 10
            while "late" not in caplog.text and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert "late" in caplog.text
            while await count(environ, outq) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # logged just before it is deleted
        assert await count(environ, outq) == 0
    finally:
        await aclose_shared()


async def test_a_duplicate_reply_is_ignored(backend: str, environ: dict[str, str]) -> None:
    if backend == "azure":
        pytest.skip("the SDK stand-in answers once; duplicates are sent by hand below")
    inq, outq = unique("in"), unique("out")
    tool = make_tool(environ, inq, outq)
    try:
        async with Function(backend, environ, inq, outq, copies=3):
            first = await tool.invoke({"city": "A"})
            second = await tool.invoke({"city": "B"})
        # Each call got its own value although two more copies of every reply came.
        assert (first["city"], second["city"]) == ("A", "B")
    finally:
        await aclose_shared()


async def test_duplicates_by_hand_and_unparseable_replies(
    backend: str, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    inq, outq = unique("in"), unique("out")
    tool = make_tool(environ, inq, outq, timeout=10)
    caplog.set_level(logging.ERROR, "agentdown.queue_tools")
    try:
        cid = await tool.send({"city": "X"})
        await raw_send(environ, outq, "this is not json")
        reply = json.dumps({"Value": "v1", "CorrelationId": cid})
        # base64 and raw replies are both accepted; the second copy is a duplicate.
        await raw_send(
            environ, outq, base64.b64encode(reply.encode()).decode() if backend == "azure" else reply
        )
        await raw_send(environ, outq, reply)
        assert await tool.wait(cid, time.time() + 10) == "v1"
        deadline = time.monotonic() + 10
        while (
            await count(environ, outq) or await count(environ, f"{outq}-poison") == 0
        ) and time.monotonic() < deadline:
            other = await tool.send({"city": "Y"})  # keeps the reader reading
            await tool.forget(other)
            await asyncio.sleep(0.1)
        assert await count(environ, f"{outq}-poison") == 1
        assert "is not a reply (it is not JSON)" in caplog.text
    finally:
        await aclose_shared()


def weather_app(root: Path, inq: str, outq: str, extra_tools: str = "") -> Path:
    app = root / "app"
    (app / "tools").mkdir(parents=True)
    (app / "forecaster.agent.md").write_text(
        "---\nname: Forecaster\ndescription: Forecasts.\nqueue_tools:\n"
        "  - name: GetWeather\n    description: The weather of a city.\n"
        "    parameters: {type: object, properties: {city: {type: string}}, required: [city]}\n"
        f"    input_queue: {inq}\n    output_queue: {outq}\n    timeout: 20\n"
        "---\nForecast the weather.\n"
    )
    (app / "tools" / "weather.py").write_text(
        "from agentdown import tool\n\n@tool(name='GetWeather')\n"
        'def get_weather(city: str) -> dict:\n    """The weather."""\n'
        "    return {'city': city, 'forecast': f'sunny in {city}'}\n" + extra_tools
    )
    return app


def model_handler(messages: list[Message], info: CallInfo) -> Any:
    results = [c for m in messages for c in m.contents if c.type == "tool_result"]
    if not results:
        return tool_call("GetWeather", {"city": "Oslo"})
    return f"answer: {results[-1].text}"


async def test_a_markdown_agent_calls_a_queue_tool_end_to_end(
    backend: str, environ: dict[str, str], tmp_path: Path
) -> None:
    inq, outq = unique("in"), unique("out")
    app = weather_app(tmp_path, inq, outq)
    async with FakeModelServer(model_handler) as fake, Function(backend, environ, inq, outq):
        model = OpenAIChatModel("fake-model", base_url=fake.base_url, api_key="test")
        catalog = load_app(app, environ=environ, model=model)
        runner = Runner(catalog, store_from_env(environ))
        try:
            assert [t.name for t in catalog.build_agent("forecaster").tools] == ["GetWeather"]
            turn = await runner.run("forecaster", "Weather in Oslo?")
            assert turn.result.text == 'answer: {"city":"Oslo","forecast":"sunny in Oslo"}'
        finally:
            await runner.aclose()
