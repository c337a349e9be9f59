"""HTTP requests join their caller's trace (traceparent), and an Agents-API run joins the
trace of the request that created it, through the run record, wherever it executes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
from otelkit import Otel, parent_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from serverkit import TOOLS, agent_md, live_server, write_app

from agentdown import telemetry
from agentdown.messages import Message
from agentdown.runtime.agents_api.config import open_agents_store
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT}-01"
SECRETS = ("Bearer sk-live-secret", "apikey-secret-123", "code-secret-456")

WEATHER = agent_md(
    "name: weather\ndescription: Knows the weather.\nbuiltin_endpoints: true\ntools: {include: [lookup]}",
    "You answer weather questions.",
)


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "Done: " + "; ".join(c.text or "" for c in last.tool_results)
    return ToolCalls(tool_call("lookup", {"city": "Paris"}))


async def test_agents_api_run_joins_the_request_trace(otel: Otel, tmp_path: Path) -> None:
    app = write_app(tmp_path, {"weather.agent.md": WEATHER, "tools/lookup.py": TOOLS})
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    headers = {
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
        "Authorization": SECRETS[0],
        "api-key": SECRETS[1],
    }
    async with live_server(app, reply, environ=env) as live, aiohttp.ClientSession() as http:
        api = f"{live.url}/api/projects/p"
        body = {
            "assistant_id": "asst_app_weather",
            "thread": {"messages": [{"role": "user", "content": "weather in Paris?"}]},
        }
        url = f"{api}/threads/runs?api-version=v1&code={SECRETS[2]}"
        async with http.post(url, json=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            run = await response.json()
        for _ in range(200):
            async with http.get(f"{api}/threads/{run['thread_id']}/runs/{run['id']}?api-version=v1") as r:
                run = await r.json()
            if run["status"] in ("completed", "failed"):
                break
            await asyncio.sleep(0.05)
        assert run["status"] == "completed", run
        assert "_trace" not in run  # private: never served
    store = open_agents_store(env)
    try:
        record = await store.get("run", run["thread_id"], run["id"])
        assert record is not None and record.body["_trace"]["traceparent"].split("-")[1] == TRACE_ID
    finally:
        await store.aclose()

    posts = [s for s in otel.named("POST") if s.kind == telemetry.SpanKind.SERVER]
    assert len(posts) == 1
    server = posts[0]
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert parent_of(server) == int(PARENT, 16)
    assert (server.attributes or {})["url.path"] == "/api/projects/p/threads/runs"
    assert (server.attributes or {})["http.response.status_code"] == 200
    run_span = otel.one("agents_api.run")
    agent = otel.one("invoke_agent")
    tool = otel.one("execute_tool lookup")
    chats = otel.named("chat ")
    assert format(run_span.context.trace_id, "032x") == TRACE_ID
    assert parent_of(run_span) == server.context.span_id
    assert parent_of(agent) == run_span.context.span_id
    assert all(parent_of(s) == agent.context.span_id for s in [tool, *chats])
    attrs = run_span.attributes or {}
    assert attrs["agentdown.run.id"] == run["id"] and attrs["gen_ai.agent.id"] == "asst_app_weather"
    assert attrs["agentdown.run.status"] == "completed"
    runs = {
        (p.attributes["agentdown.run.kind"], p.attributes["agentdown.run.status"])
        for p in otel.metrics()["agentdown.runs"]
    }
    assert ("agents_api", "completed") in runs
    # Keys, tokens and function codes never reach an attribute.
    everything = " ".join(f"{s.name} {dict(s.attributes or {})}" for s in otel.spans())
    for secret in SECRETS:
        assert secret not in everything
    assert "secret" not in everything


async def test_an_invalid_traceparent_starts_a_new_trace(otel: Otel, tmp_path: Path) -> None:
    app = write_app(tmp_path, {"weather.agent.md": WEATHER, "tools/lookup.py": TOOLS})
    async with live_server(app, reply, environ={}) as live, aiohttp.ClientSession() as http:
        for bad in ("00-" + "0" * 32 + "-" + PARENT + "-01", "garbage", "00-abc-def-01" + "x" * 5000):
            async with http.get(f"{live.url}/healthz", headers={"traceparent": bad}) as r:
                assert r.status == 200
    servers = otel.named("GET")
    assert len(servers) == 3
    assert all(s.parent is None for s in servers)
