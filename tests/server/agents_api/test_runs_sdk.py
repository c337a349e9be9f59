"""Runs through the real azure-ai-agents SDK (sync and aio) over HTTP against a live server.

Each test follows a pattern of the SDK's own documentation: function tools with
``enable_auto_function_calls`` + ``create_and_process``, ``runs.stream`` with an
event handler through a tool call, run steps as an audit trail, structured output,
truncation, the manual ``requires_action`` loop, cancel, expiry, token budgets,
overrides per run, and an ``.agent.md`` agent with its own server-side tools.
The model is the loopback fake model server; what it received is asserted too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from azure.ai.agents import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from serverkit import SLOW_TOOL, TOOLS, Live, agent_md, live_server, write_app

from agentdown.client.agents import agents_client
from agentdown.messages import Message
from agentdown.server import ServerSettings
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call

T = TypeVar("T")

WEATHER = agent_md(
    "name: weather\ndescription: Knows the weather.\nbuiltin_endpoints: true\ntools: {include: [lookup, wait_a_while]}",
    "You answer weather questions.",
)


def reply(messages: list[Message], info: CallInfo) -> Any:
    """The fake model: calls a tool when asked about weather and one is offered, else answers."""
    last = messages[-1]
    names = [t.name for t in info.tools]
    if last.role == "tool":
        return "Done: " + "; ".join(c.text or "" for c in last.tool_results)
    text = last.text
    if text.startswith("wait") and "wait_a_while" in names:
        return ToolCalls(tool_call("wait_a_while", {"seconds": 3}))
    if "weather" in text:
        if "forecast" in names:
            return ToolCalls(tool_call("forecast", {"task": text}))
        for name in ("get_weather", "lookup"):
            if name in names:
                return ToolCalls(tool_call(name, {"city": "Paris"}))
    if text == "count":
        return f"I see {sum(1 for x in messages if x.role != 'system')} messages"
    if text == "json":
        return '{"city": "Paris", "celsius": 21}'
    if text == "long":
        return "word " * 400
    return f"echo: {text}"


def get_weather(city: str) -> str:
    """Get the weather of a city.

    :param city: The city.
    :return: The weather.
    """
    return json.dumps({"city": city, "weather": "rainy"})


def last_request(live: Live) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The newest chat request the fake model got: its ``(role, text)`` messages and its body."""
    body = [r for r in live.fake.requests if r.path.endswith("/chat/completions")][-1].body

    def text(content: Any) -> str:
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content or ""

    return [(x["role"], text(x.get("content"))) for x in body["messages"]], body


async def sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking SDK call off the event loop that serves the app."""
    return await asyncio.to_thread(fn, *args, **kwargs)


@contextlib.asynccontextmanager
async def served(
    tmp_path: Path, environ: dict[str, str] | None = None, settings: ServerSettings | None = None
) -> AsyncIterator[Live]:
    app = write_app(
        tmp_path, {"weather.agent.md": WEATHER, "tools/lookup.py": TOOLS, "tools/slow.py": SLOW_TOOL}
    )
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), **(environ or {})}
    async with live_server(app, reply, environ=env, settings=settings) as live:
        yield live


def auto_functions(client: Any) -> m.FunctionTool:
    """``get_weather`` as a function the SDK runs for the client (``enable_auto_function_calls``)."""
    functions = m.FunctionTool(functions={get_weather})
    toolset = m.ToolSet()
    toolset.add(functions)
    client.enable_auto_function_calls(toolset)
    return functions


async def test_function_tools_with_create_and_process(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)
        functions = auto_functions(client)
        agent = await sync(
            client.create_agent,
            model="fake-model",
            name="forecaster",
            instructions="Forecast.",
            tools=functions.definitions,
        )
        thread = await sync(client.threads.create)
        await sync(client.messages.create, thread_id=thread.id, role="user", content="weather in Paris?")
        run = await sync(
            client.runs.create_and_process, thread_id=thread.id, agent_id=agent.id, polling_interval=0.05
        )
        assert run.status == "completed", run.last_error
        messages = await sync(lambda: list(client.messages.list(thread_id=thread.id, order="asc")))
        assert [x.role for x in messages] == ["user", "assistant"]
        assert messages[1].text_messages[0].text.value == 'Done: {"city": "Paris", "weather": "rainy"}'
        assert messages[1].run_id == run.id
        # The model was asked with the assistant's instructions and got the client's output back.
        sent, _ = last_request(live)
        assert sent[0] == ("system", "Forecast.")
        assert sent[-1][0] == "tool"
        steps = await sync(
            lambda: list(client.run_steps.list(thread_id=thread.id, run_id=run.id, order="asc"))
        )
        assert [s.type for s in steps] == ["tool_calls", "message_creation"]
        call = steps[0].step_details.tool_calls[0]
        assert isinstance(call, m.RunStepFunctionToolCall)
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"}
        assert json.loads(call.function["output"]) == {"city": "Paris", "weather": "rainy"}
        assert all(s.status == "completed" and s.usage.total_tokens > 0 for s in steps)
        assert run.usage.total_tokens == sum(s.usage.total_tokens for s in steps)
        assert steps[1].step_details.message_creation.message_id == messages[1].id


def _plain(value: Any) -> str:
    return str(getattr(value, "value", value))


class Recorder(m.AgentEventHandler[None]):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text = ""

    def on_message_delta(self, delta: m.MessageDeltaChunk) -> None:
        self.text += delta.text

    def on_unhandled_event(self, event_type: str, event_data: Any) -> None:
        self.events.append(event_type)

    def on_thread_run(self, run: m.ThreadRun) -> None:
        self.events.append(f"run:{_plain(run.status)}")

    def on_run_step(self, step: m.RunStep) -> None:
        self.events.append(f"step:{_plain(step.type)}:{_plain(step.status)}")

    def on_thread_message(self, message: m.ThreadMessage) -> None:
        self.events.append(f"message:{_plain(message.status)}")

    def on_done(self) -> None:
        self.events.append("done")


async def test_stream_with_event_handler_through_a_tool_call(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)
        functions = auto_functions(client)
        agent = await sync(
            client.create_agent, model="fake-model", name="f", instructions="F.", tools=functions.definitions
        )
        thread = await sync(
            client.threads.create, messages=[m.ThreadMessageOptions(role="user", content="weather?")]
        )
        handler = Recorder()

        def stream() -> None:
            with client.runs.stream(thread_id=thread.id, agent_id=agent.id, event_handler=handler) as s:
                s.until_done()

        await sync(stream)
        assert handler.text == 'Done: {"city": "Paris", "weather": "rainy"}'
        ev = handler.events
        assert ev[:3] == ["run:queued", "run:queued", "run:in_progress"]
        assert (
            ev.index("run:requires_action")
            < ev.index("step:tool_calls:completed")
            < ev.index("run:completed")
        )
        assert ev.index("message:in_progress") < ev.index("message:completed") < ev.index("run:completed")
        assert (
            ev[-1] == "done" and ev.count("done") == 2
        )  # one per stream: the run's, and the one after the outputs
        runs = await sync(lambda: list(client.runs.list(thread_id=thread.id)))
        assert [r.status for r in runs] == ["completed"]


async def test_aio_stream_and_app_agent_with_server_side_tools(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url, aio=True)
        async with client:
            agents = [a async for a in client.list_agents()]
            weather = next(a for a in agents if a.name == "weather")
            thread = await client.threads.create(
                messages=[m.ThreadMessageOptions(role="user", content="weather?")]
            )

            class Handler(m.AsyncAgentEventHandler[None]):
                text = ""

                async def on_message_delta(self, delta: m.MessageDeltaChunk) -> None:
                    Handler.text += delta.text

            async with await client.runs.stream(
                thread_id=thread.id, agent_id=weather.id, event_handler=Handler()
            ) as s:
                await s.until_done()
            assert Handler.text == "Done: Paris: sunny"  # lookup ran in the server
            runs = [r async for r in client.runs.list(thread_id=thread.id)]
            assert runs[0].status == "completed"
            steps = [
                s async for s in client.run_steps.list(thread_id=thread.id, run_id=runs[0].id, order="asc")
            ]
            assert steps[0].step_details.tool_calls[0].function["output"] == "Paris: sunny"


async def test_manual_requires_action_loop(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)
        functions = m.FunctionTool(functions={get_weather})
        agent = await sync(client.create_agent, model="fake-model", name="f", tools=functions.definitions)
        thread = await sync(client.threads.create)
        await sync(client.messages.create, thread_id=thread.id, role="user", content="weather?")
        run = await sync(client.runs.create, thread_id=thread.id, agent_id=agent.id)
        assert run.status in ("queued", "in_progress")
        while run.status in ("queued", "in_progress"):
            await asyncio.sleep(0.02)
            run = await sync(client.runs.get, thread_id=thread.id, run_id=run.id)
        assert run.status == "requires_action"
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris"})
        ]
        # A second run on the thread while this one waits is refused.
        with pytest.raises(HttpResponseError) as busy:
            await sync(client.runs.create, thread_id=thread.id, agent_id=agent.id)
        assert busy.value.status_code == 409
        # Outputs for calls that are not pending are refused, and change nothing.
        with pytest.raises(HttpResponseError) as wrong:
            await sync(
                client.runs.submit_tool_outputs,
                thread_id=thread.id,
                run_id=run.id,
                tool_outputs=[m.ToolOutput(tool_call_id="call_forged", output="x")],
            )
        assert wrong.value.status_code == 400 and "call_forged" in str(wrong.value)
        outputs = [m.ToolOutput(tool_call_id=calls[0].id, output="hail")]
        await sync(client.runs.submit_tool_outputs, thread_id=thread.id, run_id=run.id, tool_outputs=outputs)
        for _ in range(200):
            run = await sync(client.runs.get, thread_id=thread.id, run_id=run.id)
            if run.status == "completed":
                break
            await asyncio.sleep(0.02)
        assert run.status == "completed"
        messages = await sync(lambda: list(client.messages.list(thread_id=thread.id, run_id=run.id)))
        assert messages[0].text_messages[0].text.value == "Done: hail"


async def test_structured_output_truncation_and_overrides(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)
        agent = await sync(client.create_agent, model="fake-model", name="plain", instructions="Base.")
        thread = await sync(client.threads.create)
        for i in range(6):
            await sync(client.messages.create, thread_id=thread.id, role="user", content=f"note {i}")
        schema = {
            "type": "object",
            "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
            "required": ["city", "celsius"],
            "additionalProperties": False,
        }
        fmt = m.ResponseFormatJsonSchemaType(
            json_schema=m.ResponseFormatJsonSchema(name="weather", schema=schema)
        )
        run = await sync(
            client.runs.create_and_process,
            thread_id=thread.id,
            agent_id=agent.id,
            response_format=fmt,
            additional_messages=[m.ThreadMessageOptions(role="user", content="json")],
            polling_interval=0.05,
        )
        assert run.status == "completed", run.last_error
        _, body = last_request(live)
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"]["properties"]["city"] == {"type": "string"}
        answer = (await sync(lambda: list(client.messages.list(thread_id=thread.id, limit=1))))[0]
        assert json.loads(answer.text_messages[0].text.value) == {"city": "Paris", "celsius": 21}

        run = await sync(
            client.runs.create_and_process,
            thread_id=thread.id,
            agent_id=agent.id,
            truncation_strategy=m.TruncationObject(type="last_messages", last_messages=3),
            instructions="Override.",
            additional_instructions="And more.",
            additional_messages=[m.ThreadMessageOptions(role="user", content="count")],
            polling_interval=0.05,
        )
        assert run.status == "completed"
        assert run.truncation_strategy.last_messages == 3
        assert run.instructions == "Override.\n\nAnd more."
        sent, _ = last_request(live)
        assert [role for role, _ in sent] == ["system", "user", "assistant", "user"]
        assert sent[0] == ("system", "Override.\n\nAnd more.")
        assert sent[-1] == ("user", "count")


async def test_budget_cancel_expiry_and_refusals(tmp_path: Path) -> None:
    async with served(tmp_path, {"AGENTDOWN_RUN_EXPIRES_SECONDS": "1"}) as live:
        client = agents_client(live.url)
        agent = await sync(client.create_agent, model="fake-model", name="plain")
        thread = await sync(
            client.threads.create, messages=[m.ThreadMessageOptions(role="user", content="long")]
        )
        run = await sync(
            client.runs.create_and_process,
            thread_id=thread.id,
            agent_id=agent.id,
            max_completion_tokens=20,
            polling_interval=0.05,
        )
        assert run.status == "incomplete"
        assert run.incomplete_details.reason == "max_completion_tokens"

        # Cancel while a server-side tool runs: the run stops at its next safe point.
        weather = "asst_app_weather"
        await sync(client.messages.create, thread_id=thread.id, role="user", content="wait please")
        run = await sync(client.runs.create, thread_id=thread.id, agent_id=weather)
        for _ in range(200):
            steps = await sync(lambda: list(client.run_steps.list(thread_id=thread.id, run_id=run.id)))
            if steps:
                break
            await asyncio.sleep(0.02)
        cancelled = await sync(client.runs.cancel, thread_id=thread.id, run_id=run.id)
        assert cancelled.status in ("cancelling", "cancelled")
        for _ in range(300):
            run = await sync(client.runs.get, thread_id=thread.id, run_id=run.id)
            if run.status == "cancelled":
                break
            await asyncio.sleep(0.02)
        assert run.status == "cancelled"
        steps = await sync(lambda: list(client.run_steps.list(thread_id=thread.id, run_id=run.id)))
        assert steps[0].status == "cancelled"
        assert steps[0].step_details.tool_calls[0].function["output"]  # no call is left without a result

        # A run waiting for tool outputs past expires_at is expired.
        functions = m.FunctionTool(functions={get_weather})
        await sync(client.messages.create, thread_id=thread.id, role="user", content="weather?")
        run = await sync(
            client.runs.create, thread_id=thread.id, agent_id=agent.id, tools=functions.definitions
        )
        started = time.time()
        while run.status != "expired" and time.time() - started < 10:
            await asyncio.sleep(0.1)
            run = await sync(client.runs.get, thread_id=thread.id, run_id=run.id)
        assert run.status == "expired"
        with pytest.raises(HttpResponseError) as late:
            await sync(
                client.runs.submit_tool_outputs,
                thread_id=thread.id,
                run_id=run.id,
                tool_outputs=[m.ToolOutput(tool_call_id="x", output="y")],
            )
        assert late.value.status_code == 400

        # Tools that cannot run here are refused by name, before anything is written.
        with pytest.raises(HttpResponseError) as refused:
            await sync(
                client.runs.create,
                thread_id=thread.id,
                agent_id=agent.id,
                tools=[m.BingGroundingTool(connection_id="c").definitions[0]],
            )
        assert refused.value.status_code == 400 and "bing_grounding" in str(refused.value)
        with pytest.raises(ResourceNotFoundError):
            await sync(client.runs.get, thread_id=thread.id, run_id="run_missing")
        with pytest.raises(ResourceNotFoundError):
            await sync(client.runs.create, thread_id="thread_missing", agent_id=agent.id)
        with pytest.raises(ResourceNotFoundError):
            await sync(client.runs.create, thread_id=thread.id, agent_id="asst_missing")


async def test_connected_agent_delegates_server_side(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)
        helper = m.ConnectedAgentTool(
            id="asst_app_weather", name="forecast", description="Ask for the weather."
        )
        boss = await sync(client.create_agent, model="fake-model", name="boss", tools=helper.definitions)
        thread = await sync(
            client.threads.create, messages=[m.ThreadMessageOptions(role="user", content="weather now")]
        )

        run = await sync(
            client.runs.create_and_process, thread_id=thread.id, agent_id=boss.id, polling_interval=0.05
        )
        assert run.status == "completed", run.last_error
        steps = await sync(
            lambda: list(client.run_steps.list(thread_id=thread.id, run_id=run.id, order="asc"))
        )
        delegated = steps[0].step_details.tool_calls[0]
        assert delegated.function.name == "forecast"
        assert delegated.function["output"] == "Done: Paris: sunny"  # the weather agent ran its own lookup


async def test_served_bodies_match_the_declared_models_and_principals_are_kept_apart(tmp_path: Path) -> None:
    import aiohttp

    from agentdown.runtime.agents_api.runs.schemas import RunObject, RunStepObject

    async with served(tmp_path, settings=ServerSettings(port=0, trust_client_principal=True)) as live:
        alice = {"x-ms-client-principal": principal("alice")}
        bob = {"x-ms-client-principal": principal("bob")}
        base = f"{live.url}/api/projects/p"
        async with aiohttp.ClientSession() as http:
            body = {
                "assistant_id": "weather",
                "thread": {"messages": [{"role": "user", "content": "weather?"}]},
            }
            async with http.post(f"{base}/threads/runs", json=body, headers=alice) as r:
                assert r.status == 200, await r.text()
                run = await r.json()
            RunObject.model_validate(run)
            for _ in range(200):
                async with http.get(
                    f"{base}/threads/{run['thread_id']}/runs/{run['id']}", headers=alice
                ) as r:
                    run = await r.json()
                if run["status"] == "completed":
                    break
                await asyncio.sleep(0.02)
            assert RunObject.model_validate(run).status == "completed"
            assert not any(k.startswith("_") for k in run)  # private keys (lease, state) are never served
            async with http.get(
                f"{base}/threads/{run['thread_id']}/runs/{run['id']}/steps", headers=alice
            ) as r:
                steps = (await r.json())["data"]
            assert len(steps) == 2
            for step in steps:
                RunStepObject.model_validate(step)
            # Another principal cannot see the run, its steps, or cancel it: 404 as if it did not exist.
            for method, path in [
                ("GET", f"/threads/{run['thread_id']}/runs/{run['id']}"),
                ("GET", f"/threads/{run['thread_id']}/runs/{run['id']}/steps"),
                ("GET", f"/threads/{run['thread_id']}/runs"),
                ("POST", f"/threads/{run['thread_id']}/runs/{run['id']}/cancel"),
            ]:
                async with http.request(method, base + path, headers=bob) as r:
                    assert r.status == 404, (path, await r.text())
            async with http.post(
                f"{base}/threads/{run['thread_id']}/runs", json={"assistant_id": "weather"}, headers=bob
            ) as r:
                assert r.status == 404


def principal(name: str) -> str:
    import base64

    claims = {"auth_typ": "aad", "claims": [{"typ": "oid", "val": name}, {"typ": "tid", "val": "t"}]}
    return base64.b64encode(json.dumps(claims).encode()).decode()


async def test_prompt_budget_and_aio_create_and_process(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url, aio=True)
        async with client:
            functions = m.AsyncFunctionTool(functions={get_weather})
            toolset = m.AsyncToolSet()
            toolset.add(functions)
            client.enable_auto_function_calls(toolset)
            agent = await client.create_agent(model="fake-model", name="f", tools=functions.definitions)
            thread = await client.threads.create(
                messages=[m.ThreadMessageOptions(role="user", content="weather?")]
            )
            run = await client.runs.create_and_process(
                thread_id=thread.id, agent_id=agent.id, polling_interval=0.05
            )
            assert run.status == "completed", run.last_error
            # A thread that is already longer than the prompt budget: the run ends incomplete, saying why.
            for _ in range(3):
                await client.messages.create(thread_id=thread.id, role="user", content="x" * 1200)
            run = await client.runs.create_and_process(
                thread_id=thread.id, agent_id=agent.id, max_prompt_tokens=256, polling_interval=0.05
            )
            assert run.status == "incomplete"
            assert run.incomplete_details.reason == "max_prompt_tokens"
