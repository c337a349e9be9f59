"""`agentdown serve` as real processes: two sharing one data directory; the quickstart (`make run`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from serverkit import HELPER, REPO, parse_sse, post_json, serve_args, serve_process, write_app

from agentdown.testing import FakeModelServer

PROVIDER_VARIABLES = (
    "AGENTDOWN_PROVIDER",
    "AZURE_FUNCTIONS_AGENTS_PROVIDER",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_ENDPOINT",
    "FOUNDRY_PROJECT_ENDPOINT",
)


async def test_two_processes_share_sessions(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER})
    async with FakeModelServer(latency=0.05) as fake:
        env = {
            "AGENTDOWN_PROVIDER": "openai_compatible",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "AGENTDOWN_MODEL": "fake-model",
            "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        }
        with serve_process(serve_args(app), env) as first, serve_process(serve_args(app), env) as second:
            servers = [first.url, second.url]
            assert servers[0] != servers[1]
            async with aiohttp.ClientSession() as http:

                async def turn(index: int) -> None:
                    url = f"{servers[index % 2]}/agents/helper/chat"
                    status, _, body = await post_json(
                        http, url, {"prompt": f"turn {index}"}, {"x-ms-session-id": "shared"}
                    )
                    assert status == 200, body

                await asyncio.gather(*(turn(i) for i in range(10)))
                async with http.get(
                    f"{servers[1]}/agents/helper/history", headers={"x-ms-session-id": "shared"}
                ) as response:
                    history = (await response.json())["messages"]
            output = first.stop() + second.stop()
    # Every turn is there once, its answer right after its question: turns never interleave.
    assert len(history) == 20
    pairs = [(history[i], history[i + 1]) for i in range(0, 20, 2)]
    assert all(q["role"] == "user" and a["text"] == f"Echo: {q['text']}" for q, a in pairs)
    assert sorted(q["text"] for q, _ in pairs) == sorted(f"turn {i}" for i in range(10))
    assert "Traceback" not in output and "ERROR" not in output


async def test_quickstart_serves_an_offline_demo(tmp_path: Path) -> None:
    env = {name: "" for name in PROVIDER_VARIABLES}
    env["AGENTDOWN_DATA_DIR"] = str(tmp_path / "data")
    args = [str(REPO / "examples" / "quickstart" / "main.py"), "--port", "0"]
    with serve_process(args, env, cwd=REPO) as server:
        banner = "".join(server.output)
        assert "OFFLINE DEMO" in banner
        assert f"chat page  {server.url}/agents/quickstart/" in banner
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/agents/quickstart/") as response:
                assert response.status == 200
            async with http.post(
                f"{server.url}/agents/quickstart/chatstream", json={"prompt": "What's the weather in Paris?"}
            ) as response:
                events = parse_sse(await response.text())
        output = server.stop()
    tools = [data["tool_name"] for name, data in events if name == "tool_end"]
    assert tools == ["get_weather"]
    answer = "".join(data["content"] for name, data in events if name == "delta")
    assert answer.startswith("Here is what I found: Paris:")
    assert "Traceback" not in output
    assert "ERROR" not in output
