"""chatstream under the worker's HTTP streams extension: frames leave while the model still streams."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import typing
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _hosting_kit import SAMPLE, Hosted, asgi_request, http
from aiohttp import web
from azurefunctions.extensions.base import (  # type: ignore[import-untyped]
    HttpV2FeatureChecker,
    RequestTrackerMeta,
    ResponseTrackerMeta,
)
from fastapi.responses import StreamingResponse

from agentdown.hosting import create_function_app


class GatedModel:
    """A loopback OpenAI-compatible stream that holds its last chunk until ``release``."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished = False
        self.calls = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        if not (await request.json()).get("stream"):
            message = {"role": "assistant", "content": "Hello world"}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return web.json_response(
                {"id": "c", "object": "chat.completion", "created": 0, "choices": [choice]}
            )
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake-model"}
            body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
            return f"data: {json.dumps(body)}\n\n".encode()

        await out.write(chunk({"role": "assistant", "content": "Hello "}))
        await self.release.wait()
        await out.write(chunk({"content": "world"}) + chunk({}, "stop") + b"data: [DONE]\n\n")
        await out.write_eof()
        self.finished = True
        return out

    async def __aenter__(self) -> GatedModel:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def gated() -> AsyncIterator[GatedModel]:
    async with GatedModel() as model:
        yield model


@pytest.fixture
async def streamed(env: dict[str, str], gated: GatedModel) -> AsyncIterator[Hosted]:
    settings = {**env, "OPENAI_BASE_URL": gated.base_url, "PYTHON_ENABLE_INIT_INDEXING": "1"}
    app = Hosted(create_function_app(SAMPLE, environ=settings))
    yield app
    await app.aclose()


def _frames(chunk: bytes) -> list[dict[str, Any]]:
    lines = chunk.decode().splitlines()
    return [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]


async def _until(frames: AsyncIterator[bytes], kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not any(f["type"] == kind for f in seen):
        seen += _frames(await asyncio.wait_for(frames.__anext__(), 10))
    return seen


def test_every_http_function_takes_the_extensions_types(streamed: Hosted) -> None:
    assert HttpV2FeatureChecker.http_v2_enabled()  # what makes the worker start its HTTP server
    bindings = streamed.bindings("agent_main_builtin_chatstream")
    assert bindings == [
        {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": ["POST"],
            "authLevel": "FUNCTION",
            "route": "agents/main/chatstream",
        },
        {"direction": "OUT", "type": "http", "name": "$return"},
    ]
    http_functions = [n for n in streamed.functions if n and streamed.is_http(n)]
    assert "agent_main_builtin_chat" in http_functions and "agentdown_agents_api" in http_functions
    for name in http_functions:
        # The worker's own checks: it refuses an app mixing these with func.HttpRequest ones.
        hints = typing.get_type_hints(streamed.functions[name].get_user_function())
        assert RequestTrackerMeta.check_type(hints["req"]), name
        assert ResponseTrackerMeta.check_type(hints["return"]), name


async def test_the_first_delta_arrives_before_the_model_finished(streamed: Hosted, gated: GatedModel) -> None:
    request = asgi_request(http("POST", "/agents/main/chatstream", {"prompt": "hi"}))
    response = await streamed.call_raw("agent_main_builtin_chatstream", request)
    assert isinstance(response, StreamingResponse)
    assert response.status_code == 200
    headers = dict(response.headers)
    assert headers["content-type"].startswith("text/event-stream")
    frames = response.body_iterator
    seen = await _until(frames, "delta")  # type: ignore[arg-type]
    assert [f["type"] for f in seen][:2] == ["session", "delta"]
    assert seen[1]["content"] == "Hello "
    assert not gated.finished and not gated.release.is_set()  # the model still holds its last chunk
    gated.release.set()
    rest = await _until(frames, "done")  # type: ignore[arg-type]
    assert "".join(f["content"] for f in [*seen, *rest] if f["type"] == "delta") == "Hello world"
    session = headers["x-ms-session-id"]
    history = await streamed.app.agentdown.runner.history("main", session)  # type: ignore[attr-defined]
    assert [m.text for m in history] == ["hi", "Hello world"]


async def test_a_client_gone_mid_stream_keeps_the_turn_in_the_session(
    streamed: Hosted, gated: GatedModel
) -> None:
    request = asgi_request(
        http("POST", "/agents/main/chatstream", {"prompt": "go"}, {"x-ms-session-id": "s1"})
    )
    response = await streamed.call_raw("agent_main_builtin_chatstream", request)
    sent: list[bytes] = []
    gone = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message.get("body", b""))
        if b'"type":"delta"' in b"".join(sent):
            gone.set()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    # Sent as the worker's server sends it; the client leaves after the first delta.
    await asyncio.wait_for(response({"type": "http", "asgi": {"version": "3.0"}}, receive, send), 10)
    assert not gated.finished
    runner = streamed.app.agentdown.runner  # type: ignore[attr-defined]
    history: list[Any] = []
    for _ in range(200):
        history = await runner.history("main", "s1")
        if history:
            break
        await asyncio.sleep(0.02)
    assert history and history[0].text == "go"
    gated.release.set()
    again = await streamed.call(
        "agent_main_builtin_chat",
        http("POST", "/agents/main/chat", {"prompt": "again"}, {"x-ms-session-id": "s1"}),
    )
    assert again.status_code == 200, again.get_body()
    texts = [m.text for m in await runner.history("main", "s1")]
    assert texts[0] == "go" and texts[-2:] == ["again", "Hello world"]


def test_without_init_indexing_the_functions_stay_buffered(tmp_path: Any) -> None:
    """A fresh interpreter: the worker streams only with PYTHON_ENABLE_INIT_INDEXING (Python < 3.13)."""
    probe = (
        "import sys, typing, azure.functions as func\n"
        "from agentdown.hosting import create_function_app\n"
        f"app = create_function_app({str(SAMPLE)!r}, environ={{'AGENTDOWN_PROVIDER': 'openai_compatible',"
        f" 'OPENAI_BASE_URL': 'http://127.0.0.1:9/v1', 'OPENAI_API_KEY': 't', 'AGENTDOWN_MODEL': 'm',"
        f" 'AGENTDOWN_DATA_DIR': {str(tmp_path)!r}}})\n"
        "fn = next(f for f in app.get_functions() if f.get_function_name() == 'agent_main_builtin_chatstream')\n"
        "hints = typing.get_type_hints(fn.get_user_function())\n"
        "assert hints['req'] is func.HttpRequest, hints\n"
        "assert 'azurefunctions.extensions.http.fastapi' not in sys.modules\n"
        "assert 'fastapi' not in sys.modules\n"
    )
    if sys.version_info >= (3, 13):
        pytest.skip("the worker indexes at start-up from Python 3.13: streaming is the default")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
