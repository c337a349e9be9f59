"""The parts the Agents API integration builds on: send / wait by id (also from another caller), no
per-call timeout, and finding the credentials of a queue_service_endpoint."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from _functions import serve_embedded, unique

from agentdown.runtime.queue_tools import QueueTool, account_for_endpoint, aclose_shared
from agentdown.runtime.queue_tools.ids import parse_correlation_id
from agentdown.runtime.queues import open_queue_service, resolve_account

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


async def test_a_reply_to_a_call_sent_elsewhere_reaches_whoever_waits_for_its_id(
    environ: dict[str, str],
) -> None:
    inq, outq = unique("in"), unique("out")
    sender = QueueTool("T", "t", SCHEMA, input_queue=inq, output_queue=outq, environ=environ, timeout=None)
    deadline = time.time() + 30
    cid = sender.correlation_id(deadline)
    assert parse_correlation_id(cid).deadline == pytest.approx(deadline, abs=0.01)
    try:
        assert await sender.send({"city": "Oslo"}, cid) == cid
        await sender.forget(cid)  # the sending worker "dies": it no longer waits
        # Another caller (a worker that took the run over) waits for the same id.
        taker = QueueTool("T", "t", SCHEMA, input_queue=inq, output_queue=outq, environ=environ, timeout=None)
        service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
        try:
            reply = json.dumps({"Value": "from the function", "CorrelationId": cid})
            waiting = asyncio.create_task(taker.wait(cid, deadline))
            await asyncio.sleep(0.2)
            await service.queue(outq).send(reply)
            assert await asyncio.wait_for(waiting, 20) == "from the function"
        finally:
            await service.aclose()
    finally:
        await aclose_shared()


async def test_without_a_timeout_a_call_waits_until_cancelled(environ: dict[str, str]) -> None:
    inq, outq = unique("in"), unique("out")
    tool = QueueTool("T", "t", SCHEMA, input_queue=inq, output_queue=outq, environ=environ, timeout=None)
    try:
        call = asyncio.create_task(tool.invoke({"city": "x"}))
        await asyncio.sleep(1.0)
        assert not call.done()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # And a reply arriving now finds nobody: the next call still gets its own.
        stop = asyncio.Event()
        server = (
            asyncio.create_task(serve_embedded(environ, inq, outq, lambda p: p["city"], stop))
            if "AzureWebJobsStorage" not in environ
            else None
        )
        if server is not None:
            assert await asyncio.wait_for(tool.invoke({"city": "y"}), 20) == "y"
            stop.set()
            await server
    finally:
        await aclose_shared()


def test_a_queue_service_endpoint_uses_the_matching_configured_connection() -> None:
    env = {
        "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=main;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        "Other": "DefaultEndpointsProtocol=https;AccountName=other;AccountKey=a2V5",
        "Tools__queueServiceUri": "https://tools.queue.core.windows.net",
        "Tools__clientId": "client-1",
    }
    assert account_for_endpoint("https://main.queue.core.windows.net/", env).source == "AzureWebJobsStorage"
    assert account_for_endpoint("https://OTHER.queue.core.windows.net", env).source == "Other"
    tools = account_for_endpoint("https://tools.queue.core.windows.net", env)
    assert (tools.queue_url, tools.client_id) == ("https://tools.queue.core.windows.net", "client-1")
    entra = account_for_endpoint("https://elsewhere.queue.core.windows.net", env)
    assert (entra.kind, entra.connection_string, entra.queue_url) == (
        "azure",
        None,
        "https://elsewhere.queue.core.windows.net",
    )
    dev = account_for_endpoint(
        "http://127.0.0.1:10001/devstoreaccount1", {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    )
    assert dev.connection_string == "UseDevelopmentStorage=true"


async def test_a_reply_that_comes_before_wait_is_kept_for_it(backend: str, environ: dict[str, str]) -> None:
    from test_queue_tool_calls import Function, count

    inq, outq = unique("in"), unique("out")
    tool = QueueTool("T", "t", SCHEMA, input_queue=inq, output_queue=outq, environ=environ, timeout=30)
    handled: list[str] = []

    def handler(payload: dict[str, str]) -> str:
        handled.append(payload["city"])
        return f"v-{payload['city']}"

    try:
        async with Function(backend, environ, inq, outq, handler=handler):
            cid = await tool.send({"city": "early"})
            deadline = time.monotonic() + 20
            while not handled and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # the reply is sent, and this process's reader has taken it
            assert handled == ["early"] and await count(environ, outq) == 0
            assert await asyncio.wait_for(tool.wait(cid, time.time() + 5), 5) == "v-early"
    finally:
        await aclose_shared()
