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
