"""McpToolset against real MCP servers: HTTP, SSE and stdio, from the toolset and through an Agent."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from pathlib import Path

import pytest
from mcp_test_servers import RunningServer, stdio_config

from agentdown import Agent
from agentdown.app.mcp_config import McpServerConfig, parse_mcp_config
from agentdown.exceptions import ToolError, ToolsetUnavailableError
from agentdown.testing import ScriptedModel, ToolCalls, tool_call
from agentdown.tools.mcp import McpConnectionError, McpTool, McpToolset


def http(server: RunningServer, name: str = "demo", **kwargs: object) -> McpServerConfig:
    return McpServerConfig(name, "streamable-http", url=server.url, **kwargs)  # type: ignore[arg-type]


def as_text(value: object) -> str:
    assert isinstance(value, str), value
    return value


def by_name(tools: list[McpTool]) -> dict[str, McpTool]:
    return {t.mcp_name: t for t in tools}


async def test_agent_calls_an_mcp_tool_over_streamable_http(http_server: RunningServer) -> None:
    async with McpToolset("demo", http(http_server)) as toolset:
        model = ScriptedModel([ToolCalls(tool_call("add", {"a": 2, "b": 3}, call_id="c1")), "It is 5."])
        result = await Agent(model, tools=[toolset]).run("2+3?")
        assert result.text == "It is 5."
        tool_result = result.messages[2].contents[0]
        assert (tool_result.call_id, tool_result.text, tool_result.is_error) == ("c1", "5", False)
        definitions = {d.name: d for d in model.requests[0].tools}
        assert definitions["add"].parameters["properties"].keys() == {"a", "b"}
        assert definitions["add"].description == "Add two integers."


async def test_agent_calls_an_mcp_tool_over_stdio() -> None:
    async with McpToolset("local", stdio_config()) as toolset:
        model = ScriptedModel([ToolCalls(tool_call("echo", {"text": "hi"})), "done"])
        result = await Agent(model, tools=[toolset]).run("say hi")
        assert result.messages[2].contents[0].text == "echo: hi"


async def test_sse_transport(sse_server: RunningServer) -> None:
    config = McpServerConfig("legacy", "sse", url=sse_server.url)
    async with McpToolset("legacy", config) as toolset:
        tools = by_name(await toolset.list_tools())
        assert await tools["echo"].invoke({"text": "x"}) == "echo: x"


async def test_allowlist_patterns_and_name_sanitising(http_server: RunningServer) -> None:
    async with McpToolset(
        "demo", http(http_server), allow=["search*", "get_issue", "nonexistent"]
    ) as toolset:
        tools = await toolset.list_tools()
    assert sorted((t.mcp_name, t.name) for t in tools) == [
        ("get_issue", "get_issue"),
        ("search.docs", "search_docs"),  # the model only accepts [A-Za-z0-9_-]
        ("search_code", "search_code"),
    ]


async def test_allowlist_and_prefix_from_mcp_json(http_server: RunningServer, tmp_path: Path) -> None:
    text = json.dumps({"servers": {"gh": {"url": http_server.url, "tools": ["echo"], "tool_prefix": "gh_"}}})
    servers, problems = parse_mcp_config(text, tmp_path / "mcp.json", {})
    assert not problems
    async with McpToolset("gh", servers["gh"]) as toolset:
        (tool,) = await toolset.list_tools()
        assert (tool.name, tool.mcp_name) == ("gh_echo", "echo")
        assert await tool.invoke({"text": "a"}) == "echo: a"


async def test_headers_with_variables_reach_the_server(http_server: RunningServer, tmp_path: Path) -> None:
    headers = {"X-Tenant": "%TENANT%", "Authorization": "Bearer $TOKEN", "X-Literal": "$$TOKEN"}
    raw = {"url": http_server.url, "headers": headers}
    servers, problems = parse_mcp_config(
        json.dumps({"servers": {"demo": raw}}),
        tmp_path / "mcp.json",
        {"TENANT": "contoso", "TOKEN": "s3cret"},
    )
    assert not problems
    async with McpToolset("demo", servers["demo"]) as toolset:
        seen = json.loads(as_text(await by_name(await toolset.list_tools())["whoami"].invoke({})))
    assert seen == {"x-tenant": "contoso", "authorization": "Bearer s3cret", "x-literal": "$TOKEN"}


async def test_entra_auth_uses_the_token_provider(http_server: RunningServer, tmp_path: Path) -> None:
    text = json.dumps(
        {"servers": {"demo": {"url": http_server.url, "auth": {"scope": "api://demo/.default"}}}}
    )
    servers, problems = parse_mcp_config(text, tmp_path / "mcp.json", {})
    assert not problems.errors
    scopes: list[str] = []

    async def token(scope: str) -> str:
        scopes.append(scope)
        return "entra-token"

    async with McpToolset("demo", servers["demo"], token_provider=token) as toolset:
        seen = json.loads(as_text(await by_name(await toolset.list_tools())["whoami"].invoke({})))
    assert seen["authorization"] == "Bearer entra-token"
    assert set(scopes) == {"api://demo/.default"}


async def test_stdio_env_args_and_substitution(tmp_path: Path) -> None:
    args = [str(Path(__file__).parent / "servers" / "demo_server.py"), "stdio"]
    raw = {"command": sys.executable, "args": args, "env": {"GREETING": "hello $WHO"}}
    servers, problems = parse_mcp_config(
        json.dumps({"mcpServers": {"local": raw}}), tmp_path / "mcp.json", {"WHO": "you"}
    )
    assert not problems
    async with McpToolset("local", servers["local"]) as toolset:
        tool = by_name(await toolset.list_tools())["env_var"]
        assert await tool.invoke({"name": "GREETING"}) == "hello you"


async def test_per_call_timeout_is_reported_to_the_model(http_server: RunningServer) -> None:
    async with McpToolset("demo", http(http_server), call_timeout=0.3) as toolset:
        model = ScriptedModel(
            [ToolCalls(tool_call("slow", {"seconds": 5})), tool_call("echo", {"text": "still"}), "ok"]
        )
        result = await Agent(model, tools=[toolset]).run("go")
    timed_out = result.messages[2].contents[0]
    assert timed_out.is_error
    assert timed_out.text == "Error: the MCP tool 'slow' (server 'demo') did not answer within 0.3 s"
    assert result.messages[4].contents[0].text == "echo: still"  # the session survived the timeout


async def test_is_error_results_become_tool_errors(http_server: RunningServer) -> None:
    async with McpToolset("demo", http(http_server)) as toolset:
        tools = by_name(await toolset.list_tools())
        with pytest.raises(ToolError, match="boom"):
            await tools["fail"].invoke({"message": "boom"})
        model = ScriptedModel([ToolCalls(tool_call("fail", {"message": "disk full"})), "sorry"])
        result = await Agent(model, tools=[toolset]).run("go")
    failed = result.messages[2].contents[0]
    assert failed.is_error and "disk full" in (failed.text or "")


async def test_images_and_embedded_resources(http_server: RunningServer) -> None:
    async with McpToolset("demo", http(http_server)) as toolset:
        tools = by_name(await toolset.list_tools())
        picture = await tools["picture"].invoke({})
        document = await tools["document"].invoke({})
        model = ScriptedModel([ToolCalls(tool_call("picture", {})), "a dot"])
        result = await Agent(model, tools=[toolset]).run("draw")
    assert isinstance(picture, list)
    assert [(c.type, c.text, c.media_type) for c in picture] == [
        ("text", "a red dot", None),
        ("data", None, "image/png"),
    ]
    assert (picture[1].data or b"").startswith(b"\x89PNG")
    assert document == "notes"
    item = result.messages[2].contents[0]
    assert item.text == "a red dot"
    assert [c.type for c in item.items or []] == ["text", "data"]


async def test_tool_list_is_fetched_once_and_refreshed_on_demand() -> None:
    async with McpToolset("local", stdio_config()) as toolset:
        first = await toolset.list_tools()
        second = await toolset.list_tools()
        assert [t.name for t in first] == [t.name for t in second]
        agent = Agent(ScriptedModel(["a", "b"]), tools=[toolset])
        await agent.run("one")
        await agent.run("two")
        assert toolset.list_count == 1
        tools = by_name(await toolset.list_tools())
        assert await tools["list_calls"].invoke({}) == "1"
        await toolset.refresh()
        assert toolset.list_count == 2
        assert await tools["list_calls"].invoke({}) == "2"


async def test_tool_list_changed_notification_refreshes_the_list() -> None:
    async with McpToolset("local", stdio_config()) as toolset:
        tools = by_name(await toolset.list_tools())
        assert "extra" not in tools
        assert await tools["grow"].invoke({}) == "grown"
        for _ in range(50):  # the notification arrives asynchronously
            if "extra" in by_name(await toolset.list_tools()):
                break
            await asyncio.sleep(0.05)
        assert await by_name(await toolset.list_tools())["extra"].invoke({}) == "extra!"
        assert toolset.list_count == 2


async def test_dead_server_fails_only_the_agents_that_use_it(http_server: RunningServer) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = McpToolset(
        "crm", McpServerConfig("crm", "streamable-http", url=f"http://u:pw@127.0.0.1:{port}/mcp?key=x")
    )
    alive = McpToolset("demo", http(http_server))
    try:
        with pytest.raises(McpConnectionError) as caught:
            await dead.list_tools()
        message = str(caught.value)
        assert (
            f"MCP server 'crm' (streamable HTTP http://127.0.0.1:{port}/mcp?...) is unavailable: " in message
        )
        assert "ConnectError" in message and "pw" not in message
        broken = Agent(ScriptedModel(["never"]), tools=[alive, dead])
        with pytest.raises(ToolsetUnavailableError, match="toolset 'crm' is unavailable: MCP server 'crm'"):
            await broken.run("hi")
        working = Agent(ScriptedModel([ToolCalls(tool_call("echo", {"text": "ok"})), "fine"]), tools=[alive])
        assert (await working.run("hi")).text == "fine"
    finally:
        await dead.aclose()
        await alive.aclose()


async def test_command_that_exits_reports_its_stderr() -> None:
    script = "import sys; print('missing API_KEY', file=sys.stderr); sys.exit(2)"
    config = McpServerConfig("broken", "stdio", command=sys.executable, args=("-c", script))
    async with McpToolset("broken", config) as toolset:
        with pytest.raises(McpConnectionError) as caught:
            await toolset.list_tools()
    message = str(caught.value)
    assert message.startswith(f"MCP server 'broken' (stdio: {sys.executable} -c import sys;")
    assert "the process exited" in message and "missing API_KEY" in message


async def test_missing_command() -> None:
    config = McpServerConfig("nope", "stdio", command="/nonexistent/mcp-server")
    async with McpToolset("nope", config) as toolset:
        with pytest.raises(McpConnectionError, match="command not found: /nonexistent/mcp-server"):
            await toolset.list_tools()


async def test_connect_timeout_is_bounded() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        async with McpToolset(
            "slow", McpServerConfig("slow", "streamable-http", url=url), connect_timeout=0.5
        ) as ts:
            started = asyncio.get_running_loop().time()
            with pytest.raises(McpConnectionError, match=r"no MCP handshake within 0\.5 s"):
                await ts.list_tools()
            assert asyncio.get_running_loop().time() - started < 3


async def test_reconnects_after_the_server_process_dies() -> None:
    async with McpToolset("local", stdio_config()) as toolset:
        tools = by_name(await toolset.list_tools())
        with pytest.raises(ToolError, match="the server closed the connection"):
            await tools["crash"].invoke({})
        assert await tools["add"].invoke({"a": 1, "b": 1}) == "2"


async def test_server_down_during_a_run_is_a_tool_error(own_http_server: RunningServer) -> None:
    async with McpToolset("demo", http(own_http_server)) as toolset:
        tools = by_name(await toolset.list_tools())
        own_http_server.stop()
        for _ in range(2):  # the broken connection, then a failed reconnect
            with pytest.raises(ToolError, match="MCP tool 'echo' \\(server 'demo'\\)"):
                await tools["echo"].invoke({"text": "x"})


async def test_one_connection_per_event_loop(http_server: RunningServer) -> None:
    toolset = McpToolset("demo", http(http_server))
    try:
        tools = by_name(await toolset.list_tools())
        results: list[object] = []

        def other_loop() -> None:
            async def use() -> None:
                results.append(await tools["add"].invoke({"a": 20, "b": 1}))
                await toolset.aclose()

            asyncio.run(use())

        thread = threading.Thread(target=other_loop)
        thread.start()
        await asyncio.to_thread(thread.join)
        assert results == ["21"]
        assert await tools["add"].invoke({"a": 1, "b": 2}) == "3"
    finally:
        await toolset.aclose()


async def test_aclose_leaves_no_tasks_and_allows_reuse(http_server: RunningServer) -> None:
    toolset = McpToolset("demo", http(http_server))
    await toolset.list_tools()
    await toolset.aclose()
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("mcp-connection")] == []
    tools = by_name(await toolset.list_tools())  # cached list; the call reconnects
    assert await tools["echo"].invoke({"text": "again"}) == "echo: again"
    await toolset.aclose()


async def test_load_tools_false_lists_nothing(http_server: RunningServer) -> None:
    async with McpToolset("demo", http(http_server, load_tools=False)) as toolset:
        assert await toolset.list_tools() == []


async def test_an_mcp_image_reaches_the_model_over_http(http_server: RunningServer) -> None:
    from agentdown.models.openai_compat import OpenAIChatModel
    from agentdown.testing import FakeModelServer

    def handler(messages, info):  # type: ignore[no-untyped-def]
        return (
            "a red dot" if messages[-1].role == "user" and len(messages) > 1 else [tool_call("picture", {})]
        )

    async with FakeModelServer(handler) as srv, McpToolset("demo", http(http_server)) as toolset:
        model = OpenAIChatModel("fake", base_url=srv.base_url, api_key="k")
        try:
            result = await Agent(model, tools=[toolset]).run("draw")
        finally:
            await model.aclose()
    assert result.text == "a red dot"
    sent = srv.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    image = sent[-1]["content"][2]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
