"""The Agents API's ``azure_function`` tool through the SDK, answered by a function on Azurite's queues.

The stand-in function is written as the Azure Functions documentation's queue pattern
does with the ``azure-storage-queue`` SDK (base64 message policies): it reads the
input queue, and puts ``{"Value", "CorrelationId"}`` on the output queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from azure.ai.agents import models as m
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy
from azure.storage.queue.aio import QueueClient
from serverkit import Live, agent_md, live_server, write_app
from test_runs_sdk import sync

from agentdown.client.agents import agents_client
from agentdown.messages import Message
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call
from azurite_peer import Azurite

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "The function said: " + (last.tool_results[0].text or "")
    return ToolCalls(tool_call("get_weather", {"city": "Oslo"}))


@contextlib.asynccontextmanager
async def function(azurite: Azurite, answer: bool = True) -> AsyncIterator[list[dict[str, Any]]]:
    """A queue-triggered function's work, with the Storage SDK: what it received is collected."""
    seen: list[dict[str, Any]] = []
    policies = {
        "message_encode_policy": BinaryBase64EncodePolicy(),
        "message_decode_policy": BinaryBase64DecodePolicy(),
    }
    source = QueueClient.from_connection_string(azurite.connection_string, "weather-in", **policies)
    sink = QueueClient.from_connection_string(azurite.connection_string, "weather-out", **policies)
    for q in (source, sink):
        with contextlib.suppress(Exception):
            await q.create_queue()

    async def serve() -> None:
        while True:
            async for message in source.receive_messages(visibility_timeout=10):
                call = json.loads(message.content)
                seen.append(call)
                if answer:
                    value = {"city": call["city"], "weather": "snow"}
                    body = json.dumps({"Value": value, "CorrelationId": call["CorrelationId"]}).encode()
                    await sink.send_message(body)
                await source.delete_message(message)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(serve())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await source.close()
        await sink.close()


@contextlib.asynccontextmanager
async def served(tmp_path: Path, azurite: Azurite, **env: str) -> AsyncIterator[Live]:
    app = write_app(
        tmp_path, {"helper.agent.md": agent_md("name: helper\ndescription: h\nbuiltin_endpoints: true")}
    )
    environ = {
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AzureWebJobsStorage": azurite.connection_string,
        **env,
    }
    async with live_server(app, reply, environ=environ) as live:
        yield live


def weather_tool(azurite: Azurite) -> m.AzureFunctionTool:
    endpoint = f"{azurite.queue_endpoint}/devstoreaccount1"
    return m.AzureFunctionTool(
        name="get_weather",
        description="The weather of a city.",
        parameters=PARAMS,
        input_queue=m.AzureFunctionStorageQueue(queue_name="weather-in", storage_service_endpoint=endpoint),
        output_queue=m.AzureFunctionStorageQueue(queue_name="weather-out", storage_service_endpoint=endpoint),
    )


async def test_an_azure_function_answers_through_the_queues(tmp_path: Path, azurite: Azurite) -> None:
    async with served(tmp_path, azurite) as live, function(azurite) as seen:
        client = agents_client(live.url)
        agent = await sync(
            client.create_agent, model="fake-model", name="f", tools=weather_tool(azurite).definitions
        )
        thread = await sync(
            client.threads.create, messages=[m.ThreadMessageOptions(role="user", content="weather?")]
        )
        run = await sync(
            client.runs.create_and_process, thread_id=thread.id, agent_id=agent.id, polling_interval=0.05
        )
        assert run.status == "completed", run.last_error
        assert len(seen) == 1
        assert seen[0]["city"] == "Oslo" and set(seen[0]) == {"city", "CorrelationId"}
        answer = (await sync(lambda: list(client.messages.list(thread_id=thread.id, limit=1))))[0]
        assert json.loads(answer.text_messages[0].text.value.removeprefix("The function said: ")) == {
            "city": "Oslo",
            "weather": "snow",
        }
        steps = await sync(
            lambda: list(client.run_steps.list(thread_id=thread.id, run_id=run.id, order="asc"))
        )
        assert json.loads(steps[0].step_details.tool_calls[0].function["output"])["weather"] == "snow"


async def test_an_unanswered_azure_function_expires_the_run(tmp_path: Path, azurite: Azurite) -> None:
    async with (
        served(tmp_path, azurite, AGENTDOWN_RUN_EXPIRES_SECONDS="2") as live,
        function(azurite, answer=False),
    ):
        client = agents_client(live.url)
        agent = await sync(
            client.create_agent, model="fake-model", name="f", tools=weather_tool(azurite).definitions
        )
        thread = await sync(
            client.threads.create, messages=[m.ThreadMessageOptions(role="user", content="weather?")]
        )
        run = await sync(
            client.runs.create_and_process, thread_id=thread.id, agent_id=agent.id, polling_interval=0.1
        )
        assert run.status == "expired"
        steps = await sync(lambda: list(client.run_steps.list(thread_id=thread.id, run_id=run.id)))
        assert steps[0].status == "expired"
