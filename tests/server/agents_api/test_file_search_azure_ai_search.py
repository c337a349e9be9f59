"""The ``azure_ai_search`` tool through the real SDK, against a loopback Azure AI Search stand-in.

The real Azure AI Search service cannot run here, so a small aiohttp server serves the
documented REST shapes: ``GET /indexes/{index}`` (the index definition, for the vector
fields) and ``POST /indexes/{index}/docs/search?api-version=2024-07-01`` answering
``{"value": [{"@search.score", ...fields}]}``. It records each request, so the body the
tool sends (``search``, ``queryType``, ``vectorQueries`` of kind ``text``, ``filter``,
``top``) and the ``api-key`` header are asserted; a hostile answer is bounded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from azure.ai.agents import models as m
from serverkit import agent_md, live_server, write_app

from agentdown.client.agents import agents_client
from agentdown.messages import Message
from agentdown.runtime.agents_api.azure_ai_search import format_documents
from agentdown.testing.scripted import CallInfo, ToolCalls, tool_call

POLL = 0.1


def reply(messages: list[Message], info: CallInfo) -> Any:
    last = messages[-1]
    if last.role == "tool":
        return "Found: " + "".join(r.text or "" for r in last.tool_results)[:300]
    return ToolCalls(tool_call("azure_ai_search", {"query": last.text}))


async def _stand_in(seen: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    async def definition(request: web.Request) -> web.Response:
        seen.append({"method": "GET", "path": request.path, "key": request.headers.get("api-key")})
        fields = [
            {"name": "id", "type": "Edm.String", "key": True},
            {"name": "content", "type": "Edm.String"},
            {"name": "contentVector", "type": "Collection(Edm.Single)", "dimensions": 3},
        ]
        return web.json_response({"name": request.match_info["index"], "fields": fields})

    async def search(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": "POST",
                "path": request.path,
                "version": request.query.get("api-version"),
                "key": request.headers.get("api-key"),
                "body": await request.json(),
            }
        )
        value = [
            {
                "@search.score": 2.5,
                "id": "doc-1",
                "title": "Hotel Tulip",
                "content": "Rooms with a view of tulips.",
            },
            {"@search.score": 1.0, "id": "doc-2", "content": "x" * 10_000, "nested": {"a": 1}},
        ]
        return web.json_response({"value": value})

    app = web.Application()
    app.router.add_get("/indexes/{index}", definition)
    app.router.add_post("/indexes/{index}/docs/search", search)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("query_type", ["simple", "semantic", "vector", "vector_semantic_hybrid"])
async def test_azure_ai_search_run(tmp_path: Path, query_type: str) -> None:
    seen: list[dict[str, Any]] = []
    runner, url = await _stand_in(seen)
    app = write_app(tmp_path, {"plain.agent.md": agent_md("name: plain\ndescription: Plain.", "Answer.")})
    env = {
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AGENTDOWN_CONNECTION_MYSEARCH_ENDPOINT": url,
        "AGENTDOWN_CONNECTION_MYSEARCH_KEY": "secret-key",
    }
    try:
        async with live_server(app, reply, environ=env) as live:
            client = agents_client(live.url)

            def scenario() -> None:
                tool = m.AzureAISearchTool(
                    index_connection_id="/subscriptions/s/resourceGroups/g/connections/mysearch",
                    index_name="hotels",
                    query_type=query_type,
                    filter="rating ge 4",
                    top_k=3,
                )
                agent = client.create_agent(
                    model="fake-model", name="s", tools=tool.definitions, tool_resources=tool.resources
                )
                thread = client.threads.create()
                client.messages.create(thread_id=thread.id, role="user", content="tulip hotel")
                run = client.runs.create_and_process(
                    thread_id=thread.id, agent_id=agent.id, polling_interval=POLL
                )
                assert run.status == "completed", run.last_error
                steps = list(client.run_steps.list(thread_id=thread.id, run_id=run.id))
                call = next(s for s in steps if s.type == "tool_calls").step_details.tool_calls[0]
                assert call.type == "azure_ai_search"
                assert "tulip hotel" in call.azure_ai_search["input"]
                assert "【0†Hotel Tulip】" in call.azure_ai_search["output"]
                assert len(call.azure_ai_search["output"]) < 5000  # the long field was cut

            await asyncio.to_thread(scenario)
    finally:
        await runner.cleanup()
    posts = [s for s in seen if s["method"] == "POST"]
    assert posts[0]["path"] == "/indexes/hotels/docs/search" and posts[0]["version"] == "2024-07-01"
    assert posts[0]["key"] == "secret-key"
    body = posts[0]["body"]
    assert body["filter"] == "rating ge 4" and body["top"] == 3
    assert body["queryType"] == ("semantic" if "semantic" in query_type else "simple")
    if query_type.startswith("vector"):
        assert body["vectorQueries"] == [
            {"kind": "text", "text": "tulip hotel", "fields": "contentVector", "k": 3}
        ]
    else:
        assert "vectorQueries" not in body and body["search"] == "tulip hotel"


async def test_unconfigured_connection_is_refused(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"plain.agent.md": agent_md("name: plain\ndescription: Plain.", "Answer.")})
    async with live_server(app, reply, environ={"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}) as live:
        client = agents_client(live.url)

        def scenario() -> None:
            from azure.core.exceptions import HttpResponseError

            tool = m.AzureAISearchTool(
                index_connection_id="nowhere", index_name="hotels", query_type="simple", filter="", top_k=3
            )
            agent = client.create_agent(
                model="fake-model", name="s", tools=tool.definitions, tool_resources=tool.resources
            )
            thread = client.threads.create()
            with pytest.raises(HttpResponseError, match="AGENTDOWN_CONNECTION_NOWHERE_ENDPOINT"):
                client.runs.create(thread_id=thread.id, agent_id=agent.id)

        await asyncio.to_thread(scenario)


def test_hostile_answers_are_bounded() -> None:
    assert format_documents({"value": "nope"}, 3).startswith("No documents")
    assert format_documents([1, 2], 3).startswith("No documents")
    many = {"value": [{"title": "【9†x】\n", "content": "y" * 99_999, "flag": True} for _ in range(100)]}
    text = format_documents(many, 2)
    assert text.count("【") == 2 and "【9†x】" not in text and "flag" not in text
    assert len(text) < 5000
