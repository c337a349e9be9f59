"""The MCP endpoint, through the ``mcp`` SDK's streamable-HTTP client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from serverkit import HELPER, TOOLS, agent_md, live_server, write_app

from agentdown.server import Keys, ServerSettings

MCP_ONLY = agent_md("name: Researcher\ndescription: Finds things out.\nbuiltin_endpoints: {mcp: true}")
NO_MCP = agent_md("name: Quiet\ndescription: d\nbuiltin_endpoints: {chat_api: true}")
ADMIN = agent_md("name: Root\ndescription: Admin only.\nbuiltin_endpoints: {mcp: true, http_auth: admin}")


def client(url: str, headers: dict[str, str] | None = None, mode: str = "auto") -> Client:
    http = httpx2.AsyncClient(headers=headers or {}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), cache=None, mode=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "mode"),
    [("/mcp", "auto"), ("/runtime/webhooks/mcp", "auto"), ("/mcp", "legacy")],
)
async def test_agents_are_tools(tmp_path: Path, path: str, mode: str) -> None:
    files = {"helper.agent.md": HELPER, "research.agent.md": MCP_ONLY, "quiet.agent.md": NO_MCP}
    files["tools/lookup.py"] = TOOLS
    async with live_server(write_app(tmp_path, files)) as live, client(live.url + path, mode=mode) as mcp:
        listed = await mcp.list_tools()
        tools = {t.name: t for t in listed.tools}
        assert sorted(tools) == ["helper", "research"]
        assert tools["research"].description == "Finds things out."
        # prompt starts a turn; approvals / tool_outputs / discard answer a paused one.
        assert set(tools["research"].input_schema["properties"]) == {
            "prompt",
            "session_id",
            "approvals",
            "tool_outputs",
            "discard",
        }

        result = await mcp.call_tool("helper", {"prompt": "Paris?"})
        assert not result.is_error
        body = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert body["response"] == "Done. Tool results: lookup: test: sunny"
        assert body["tool_calls"][0]["tool_name"] == "lookup"
        assert result.structured_content == body

        again = await mcp.call_tool("research", {"prompt": "more", "session_id": "mcp-conv-1"})
        again = await mcp.call_tool("research", {"prompt": "still more", "session_id": "mcp-conv-1"})
        assert json.loads(again.content[0].text)["session_id"] == "mcp-conv-1"  # type: ignore[union-attr]
        history = await live.runner.history("research", "mcp-conv-1")
        assert [m.text for m in history if m.role == "user"] == ["more", "still more"]

        bad = await mcp.call_tool("research", {"prompt": "x", "session_id": "../x"})
        assert bad.is_error and json.loads(bad.content[0].text)["code"] == "invalid_session_id"  # type: ignore[union-attr]
        bad = await mcp.call_tool("research", {"prompt": ""})
        assert bad.is_error and json.loads(bad.content[0].text)["code"] == "missing_prompt"  # type: ignore[union-attr]


async def test_keys_guard_the_endpoint_and_each_tool(tmp_path: Path) -> None:
    keys = Keys(function=("function-key-0123456789",), master="master-key-0123456789ab")
    files = {"research.agent.md": MCP_ONLY, "root.agent.md": ADMIN}
    async with live_server(write_app(tmp_path, files), settings=ServerSettings(port=0, keys=keys)) as live:
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                f"{live.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            )
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"

        async with client(f"{live.url}/mcp", {"x-functions-key": "function-key-0123456789"}) as mcp:
            assert [t.name for t in (await mcp.list_tools()).tools] == ["research"]
            denied = await mcp.call_tool("root", {"prompt": "x"})
            assert denied.is_error
            assert "needs the master key" in json.loads(denied.content[0].text)["error"]  # type: ignore[union-attr]
            assert not (await mcp.call_tool("research", {"prompt": "x"})).is_error

        async with client(f"{live.url}/mcp", {"authorization": "Bearer master-key-0123456789ab"}) as mcp:
            assert sorted(t.name for t in (await mcp.list_tools()).tools) == ["research", "root"]
            assert not (await mcp.call_tool("root", {"prompt": "x"})).is_error
