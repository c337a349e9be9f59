"""Regression tests of what fuzzing the server over ``/openapi.json`` found (one per finding)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from openapikit import write_full_app
from serverkit import live_server, post_json

from agentdown.server import ServerSettings


async def test_the_findings(tmp_path: Path) -> None:
    environ = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    async with (
        live_server(write_full_app(tmp_path), settings=ServerSettings(port=0), environ=environ) as live,
        aiohttp.ClientSession() as http,
    ):
        # 1. GET /mcp (stateless) was held open by the SDK forever: now a 405 at once.
        for path in ("/mcp", "/runtime/webhooks/mcp"):
            for method in ("GET", "DELETE"):
                async with asyncio.timeout(5), http.request(method, live.url + path) as response:
                    assert response.status == 405
                    assert response.headers["allow"] == "POST"
                    assert (await response.json())["code"] == "method_not_allowed"

        # 2. An Agents API id holding a newline fell out of the mount: the server's 404 shape.
        async with http.get(live.url + "/api/projects/p/assistants/a%0Ab") as response:
            body = await response.json()
            assert response.status == 404 and set(body["error"]) >= {"code", "message"}, body

        # 3. /v1: a non-object stream_options was a 500; wrong types reached the model.
        url = live.url + "/v1/chat/completions"
        base = {"model": "weather", "messages": [{"role": "user", "content": "hi"}]}
        for field, value in [("stream_options", "yes"), ("temperature", "hot"), ("stop", 3)]:
            status, _, body = await post_json(http, url, {**base, "stream": True, field: value})
            assert status == 400, (field, body)
            assert body["error"]["param"] == field and field in body["error"]["message"]

        # 4. Graph runs: the body is the documented model, a 400 naming the field.
        status, _, body = await post_json(http, live.url + "/workflows/triage/runs", {"inputs": 1})
        assert status == 400 and body["param"] == "input", body
        status, _, body = await post_json(
            http, live.url + "/workflows/triage/runs/run_x/responses", {"responses": []}
        )
        assert status == 400 and body["param"] == "responses", body


async def test_a_405_names_every_method_served_at_the_path(tmp_path: Path) -> None:
    """ST205: ``Allow`` listed only the first matching route's methods (GET of GET+POST+DELETE)."""
    environ = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    async with (
        live_server(write_full_app(tmp_path), settings=ServerSettings(port=0), environ=environ) as live,
        aiohttp.ClientSession() as http,
    ):
        cases: list[tuple[str, str, str]] = [
            # Three routes on one path, in the Agents API's own router.
            ("OPTIONS", "/api/projects/p/threads/thread_1", "DELETE, GET, HEAD, POST"),
            ("PUT", "/api/projects/p/assistants/asst_1", "DELETE, GET, HEAD, POST"),
            ("PATCH", "/api/projects/p/vector_stores/vs_1/files", "GET, HEAD, POST"),
            # A literal path registered before a template matching it too is its own resource.
            ("OPTIONS", "/api/projects/p/threads/runs", "POST"),
            ("DELETE", "/api/projects/p/files", "GET, HEAD, POST"),
            # The server's own routes, and the chat routes again under the API prefix.
            ("DELETE", "/workflows/triage/runs", "GET, HEAD, POST"),
            ("PUT", "/agents/weather/chat", "POST"),
            ("PUT", "/api/agents/weather/history", "GET, HEAD"),
        ]
        for method, path, allow in cases:
            async with http.request(method, live.url + path) as response:
                assert response.status == 405, (method, path)
                assert response.headers["allow"] == allow, (method, path)
                body = await response.json()
                code = body["error"]["code"] if path.startswith("/api/projects/") else body["code"]
                assert code == "method_not_allowed"
        # The methods the header names are served: none of them is a 405.
        for method in ("GET", "POST", "DELETE"):
            async with http.request(method, live.url + "/api/projects/p/threads/thread_1") as response:
                assert response.status != 405, method
