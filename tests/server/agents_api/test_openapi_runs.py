"""The Agents API ``openapi`` tool type through the real SDK's ``OpenApiTool``.

A loopback aiohttp server plays the API the spec describes. The web-request guard
refuses loopback addresses, so the tests that call it allow ``127.0.0.1`` explicitly
by wrapping the tool factory (the only way to allow an address; the guard itself is
tested in tests/tools/system); one test leaves the guard as it is and sees the call refused.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from azure.ai.agents import models as m
from serverkit import agent_md, live_server, write_app

from agentdown.client.agents import agents_client
from agentdown.messages import Message
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call
from agentdown.tools.system import openapi as openapi_module

POLL = 0.1


def spec(url: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "Weather", "version": "1"},
        "servers": [{"url": url}],
        "paths": {
            "/forecast/{city}": {
                "get": {
                    "operationId": "getForecast",
                    "parameters": [
                        {"name": "city", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "days", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
        "security": [{"key": []}],
    }


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "Forecast: " + (last.tool_results[0].text or "")
    assert "weather_getForecast" in [t.name for t in info.tools]
    return ToolCalls(tool_call("weather_getForecast", {"city": "Paris", "days": 2}))


@pytest.fixture
async def weather() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def forecast(request: web.Request) -> web.Response:
        seen.append(
            {"path": request.path, "query": dict(request.query), "key": request.headers.get("x-api-key")}
        )
        return web.json_response({"city": request.match_info["city"], "sky": "sunny"})

    app = web.Application()
    app.router.add_get("/forecast/{city}", forecast)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    real = openapi_module.openapi_tools_from_definition

    def allowing(definition: Any, **kwargs: Any) -> Any:
        return real(definition, allow_addresses=["127.0.0.1/32"], require_https=False, **kwargs)

    monkeypatch.setattr(openapi_module, "openapi_tools_from_definition", allowing)


def _app(tmp_path: Path) -> Path:
    return write_app(tmp_path, {"plain.agent.md": agent_md("name: plain\ndescription: Plain.", "Answer.")})


def _run(client: Any, tools: list[dict[str, Any]]) -> tuple[Any, Any]:
    agent = client.create_agent(model="fake-model", name="w", tools=tools)
    thread = client.threads.create()
    client.messages.create(thread_id=thread.id, role="user", content="weather in Paris?")
    run = client.runs.create_and_process(thread_id=thread.id, agent_id=agent.id, polling_interval=POLL)
    steps = list(client.run_steps.list(thread_id=thread.id, run_id=run.id))
    call = next(s for s in steps if s.type == "tool_calls").step_details.tool_calls[0]
    return run, call


async def test_an_openapi_operation_runs_server_side_with_its_connection_key(
    tmp_path: Path, weather: tuple[str, list[dict[str, Any]]], allow_loopback: None
) -> None:
    url, seen = weather
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "AGENTDOWN_CONNECTION_WEATHERKEY_KEY": "k-123"}
    async with live_server(_app(tmp_path), reply, environ=env) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            auth = m.OpenApiConnectionAuthDetails(
                security_scheme=m.OpenApiConnectionSecurityScheme(
                    connection_id="/subscriptions/s/resourceGroups/g/connections/weatherkey"
                )
            )
            tool = m.OpenApiTool(name="weather", description="Forecasts.", spec=spec(url), auth=auth)
            run, call = _run(client, tool.definitions)
            assert run.status == "completed", run.last_error
            assert call.type == "openapi"
            assert call.open_api["name"] == "weather_getForecast"
            assert json.loads(call.open_api["arguments"]) == {"city": "Paris", "days": 2}
            assert "sunny" in call.open_api["output"]

        await asyncio.to_thread(scenario)
    assert seen == [{"path": "/forecast/Paris", "query": {"days": "2"}, "key": "k-123"}]


async def test_without_the_allow_list_a_loopback_api_is_refused(
    tmp_path: Path, weather: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = weather
    async with live_server(
        _app(tmp_path), reply, environ={"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    ) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            tool = m.OpenApiTool(
                name="weather", description="Forecasts.", spec=spec(url), auth=m.OpenApiAnonymousAuthDetails()
            )
            run, call = _run(client, tool.definitions)
            assert run.status == "completed", run.last_error
            assert "blocked" in call.open_api["output"].lower()

        await asyncio.to_thread(scenario)
    assert seen == []


async def test_bad_definitions_and_missing_keys_are_400s(tmp_path: Path) -> None:
    from azure.core.exceptions import HttpResponseError

    async with live_server(
        _app(tmp_path), reply, environ={"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    ) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            broken = {
                "type": "openapi",
                "openapi": {"name": "x", "spec": {"swagger": "2.0"}, "auth": {"type": "anonymous"}},
            }
            with pytest.raises(HttpResponseError) as bad:
                client.create_agent(model="fake-model", name="b", tools=[broken])
            assert bad.value.status_code == 400 and "tools[0].openapi" in str(bad.value)
            auth = m.OpenApiConnectionAuthDetails(
                security_scheme=m.OpenApiConnectionSecurityScheme(connection_id="/c/connections/nokey")
            )
            tool = m.OpenApiTool(
                name="weather", description="F.", spec=spec("https://api.example.com"), auth=auth
            )
            agent = client.create_agent(model="fake-model", name="w", tools=tool.definitions)
            thread = client.threads.create()
            with pytest.raises(HttpResponseError) as missing:
                client.runs.create(thread_id=thread.id, agent_id=agent.id)
            assert missing.value.status_code == 400 and "AGENTDOWN_CONNECTION_NOKEY_KEY" in str(missing.value)

        await asyncio.to_thread(scenario)
