"""The dynamic-sessions client against a loopback STAND-IN of the ACA session pool REST API.

Azure Container Apps dynamic sessions cannot run here, so an aiohttp server on 127.0.0.1
plays the pool's ``executions`` endpoint (request and response as the Azure Functions
agents runtime uses them), and a stand-in credential (an object with ``get_token``)
plays azure-identity. The endpoint check itself is tested on real-looking URLs.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from agentdown.sessions import Session
from agentdown.tools import FunctionInvocationContext
from agentdown.tools.system.code_interpreter import dynamic_sessions_code_interpreter
from agentdown.tools.system.code_interpreter.dynamic_sessions import API_VERSION, SCOPE, endpoint_allowed
from agentdown.tools.system.code_interpreter.tool import hashed


@dataclass
class Token:
    token: str
    expires_on: int


@dataclass
class StandInCredential:
    """Stands in for an azure-identity credential: hands out numbered tokens, counts calls."""

    scopes: list[str] = field(default_factory=list)
    closed: bool = False

    async def get_token(self, *scopes: str) -> Token:
        self.scopes.extend(scopes)
        return Token(f"token-{len(self.scopes)}", int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True


@dataclass
class StandInPool:
    """The session pool's executions API, as a loopback stand-in."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: Any = None
    redirect_to: str | None = None

    async def executions(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        self.requests.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "authorization": request.headers.get("Authorization"),
                "content_type": request.headers.get("Content-Type"),
                "json": payload,
            }
        )
        if self.redirect_to is not None:
            raise web.HTTPTemporaryRedirect(self.redirect_to)
        if self.status != 200:
            return web.Response(status=self.status, text="pool says no " + "x" * 2000)
        if self.body is not None:
            return web.Response(text=self.body if isinstance(self.body, str) else json.dumps(self.body))
        code = payload["code"]
        return web.json_response(
            {
                "identifier": request.query.get("identifier"),
                "status": "Succeeded",
                "result": {"stdout": f"ran {len(code)} chars\n", "stderr": "", "executionResult": "42"},
            }
        )


@pytest_asyncio.fixture
async def pool() -> AsyncIterator[tuple[StandInPool, str]]:
    stand_in = StandInPool()
    app = web.Application()
    app.router.add_post("/pool/executions", stand_in.executions)
    app.router.add_post("/elsewhere/executions", stand_in.executions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield stand_in, f"http://127.0.0.1:{port}/pool"
    await runner.cleanup()


def _context(session_id: str) -> FunctionInvocationContext:
    return FunctionInvocationContext(tool=None, arguments={}, session=Session(id=session_id))  # type: ignore[arg-type]


async def test_request_shape_auth_and_result(pool: tuple[StandInPool, str]) -> None:
    stand_in, endpoint = pool
    credential = StandInCredential()
    tool = dynamic_sessions_code_interpreter(
        endpoint + "/", credential=credential, _allow_loopback_for_tests=True
    )
    try:
        assert tool.name == "execute_python" and tool.parameters["required"] == ["code"]
        out = await tool.invoke({"code": "```python\nprint(6 * 7)\n```"}, _context("conv-1"))
        assert json.loads(out) == {"result": "42", "stdout": "ran 12 chars\n", "stderr": ""}  # type: ignore[arg-type]
        # First the session's setup (the launch_browser helper), then the code itself.
        assert len(stand_in.requests) == 2
        setup, call = stand_in.requests
        assert "async def launch_browser" in setup["json"]["code"]
        assert call["path"] == "/pool/executions"
        assert call["query"] == {"api-version": API_VERSION, "identifier": hashed("session:conv-1")}
        assert call["authorization"] == "Bearer token-1" and call["content_type"] == "application/json"
        assert call["json"] == {
            "codeInputType": "Inline",
            "executionType": "Synchronous",
            "code": "print(6 * 7)",
            "timeoutInSeconds": 60,
        }
        assert credential.scopes == [SCOPE]  # the token is reused while valid
        await tool.invoke({"code": "1"}, _context("conv-1"))
        assert len(stand_in.requests) == 3 and stand_in.requests[2]["authorization"] == "Bearer token-1"
        # Another conversation gets another ACA session (and its own setup).
        await tool.invoke({"code": "1"}, _context("conv-2"))
        assert stand_in.requests[-1]["query"]["identifier"] == hashed("session:conv-2")
        assert len(stand_in.requests) == 5
    finally:
        await tool.aclose()
    assert not credential.closed  # the caller's credential is the caller's to close


async def test_errors_come_back_as_results(pool: tuple[StandInPool, str]) -> None:
    stand_in, endpoint = pool
    tool = dynamic_sessions_code_interpreter(
        endpoint, credential=StandInCredential(), _allow_loopback_for_tests=True
    )
    try:
        stand_in.status = 403
        out = json.loads(await tool.invoke({"code": "1"}, _context("e")))  # type: ignore[arg-type]
        assert out["error"].startswith("RuntimeError: ACA sessions API error (403): pool says no")
        assert len(out["error"]) < 600  # the body is cut
        stand_in.status, stand_in.body = 200, "not json"
        assert "error" in json.loads(await tool.invoke({"code": "1"}, _context("e")))  # type: ignore[arg-type]
        stand_in.body = ["a", "list"]
        out = json.loads(await tool.invoke({"code": "1"}, _context("e")))  # type: ignore[arg-type]
        assert "not a JSON object" in out["error"]
        stand_in.body = {"result": {"stdout": 5, "executionResult": None}}
        out = json.loads(await tool.invoke({"code": "1"}, _context("e")))  # type: ignore[arg-type]
        assert out == {"result": None, "stdout": "", "stderr": ""}
        assert json.loads(await tool.invoke({"code": " "}, _context("e"))) == {"error": "No code provided"}  # type: ignore[arg-type]
    finally:
        await tool.aclose()


async def test_redirects_are_not_followed(pool: tuple[StandInPool, str]) -> None:
    stand_in, endpoint = pool
    stand_in.redirect_to = endpoint.replace("/pool", "/elsewhere") + "/executions"
    tool = dynamic_sessions_code_interpreter(
        endpoint, credential=StandInCredential(), _allow_loopback_for_tests=True
    )
    try:
        out = json.loads(await tool.invoke({"code": "1"}, _context("r")))  # type: ignore[arg-type]
        assert "(307)" in out["error"]
        assert [r["path"] for r in stand_in.requests] == ["/pool/executions"]  # the token went nowhere else
    finally:
        await tool.aclose()


async def test_unreachable_pool_and_failing_credential() -> None:
    class Broken:
        def get_token(self, *scopes: str) -> Any:
            raise RuntimeError("no identity here")

    tool = dynamic_sessions_code_interpreter(
        "http://127.0.0.1:9/pool", credential=Broken(), _allow_loopback_for_tests=True
    )
    try:
        out = json.loads(await tool.invoke({"code": "1"}, _context("u")))  # type: ignore[arg-type]
        assert out == {"error": "RuntimeError: no identity here"}
    finally:
        await tool.aclose()
    tool = dynamic_sessions_code_interpreter(
        "http://127.0.0.1:9/pool", credential=StandInCredential(), _allow_loopback_for_tests=True
    )
    try:
        out = json.loads(await tool.invoke({"code": "1"}, _context("u")))  # type: ignore[arg-type]
        assert out["error"].startswith("ClientConnectorError")
    finally:
        await tool.aclose()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://eastus.dynamicsessions.io",
        "https://westus2.dynamicsessions.io/",
        "https://eastus.dynamicsessions.io/subscriptions/s/resourceGroups/g/sessionPools/p",
        "https://EASTUS.DynamicSessions.io",
    ],
)
def test_dynamic_sessions_hosts_are_accepted(endpoint: str) -> None:
    assert endpoint_allowed(endpoint)
    dynamic_sessions_code_interpreter(endpoint, credential=StandInCredential())


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://eastus.dynamicsessions.io",  # no TLS
        "https://collector.example/ingest",
        "https://eastus.dynamicsessions.io.collector.example",  # suffix look-alike
        "https://evil-dynamicsessions.io",
        "https://dynamicsessions.io",  # the bare domain is no pool
        "https://eastus.dynamicsessions.io@collector.example/x",  # userinfo
        "https://user:pw@eastus.dynamicsessions.io",
        "https://eastus.dynamicsessions.io:bad/",
        "https://eastus.dynamicsessions.io/?x=1",
        "$ACA_SESSION_POOL_ENDPOINT",  # an unresolved placeholder
        "",
        "http://127.0.0.1:8080/pool",  # loopback: only with the test-only switch
        "ftp://eastus.dynamicsessions.io",
    ],
)
def test_other_endpoints_are_refused(endpoint: str) -> None:
    assert not endpoint_allowed(endpoint)
    with pytest.raises(ValueError, match=r"\*\.dynamicsessions\.io"):
        dynamic_sessions_code_interpreter(endpoint, credential=StandInCredential())


def test_the_test_switch_allows_loopback_only() -> None:
    assert endpoint_allowed("http://127.0.0.1:8080/pool", allow_loopback=True)
    assert not endpoint_allowed("http://10.0.0.1:8080/pool", allow_loopback=True)
    assert not endpoint_allowed("http://example.com/pool", allow_loopback=True)


def test_client_id_selects_a_managed_identity() -> None:
    pytest.importorskip("azure.identity")
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    tool = dynamic_sessions_code_interpreter("https://eastus.dynamicsessions.io", client_id="1234")
    assert isinstance(tool._credential, ManagedIdentityCredential) and tool._owns_credential
    tool = dynamic_sessions_code_interpreter("https://eastus.dynamicsessions.io")
    assert isinstance(tool._credential, DefaultAzureCredential)
