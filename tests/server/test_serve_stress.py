"""Many `agentdown serve` processes, one data dir, one session: no turn fails, every turn lands whole.

Servers start on a fresh data dir (their first requests race to create the
database) and two more join while the first two are writing, as in the report of a
lost turn: the first request of a freshly started server failed with 502 while the
other server wrote. The store being really unavailable is a 503 with ``Retry-After``
after which the same request succeeds.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp
import pytest
from serverkit import HELPER, ServeProcess, live_server, parse_sse, post_json, serve_args, write_app

from agentdown.messages import Message
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import FakeModelServer

SERVERS = 4
CLIENTS_PER_SERVER = 3
TURNS_PER_CLIENT = 35
SESSION = {"x-ms-session-id": "shared"}
PADDING = "." * 4000
"""Long prompts: the history a turn loads and sends stops at the token budget, so the
test's cost grows with the turns, not with their square."""


async def start_servers(count: int, app: Path, env: dict[str, str]) -> list[ServeProcess]:
    return list(
        await asyncio.gather(*(asyncio.to_thread(ServeProcess, serve_args(app), env) for _ in range(count)))
    )


async def chat_turns(http: aiohttp.ClientSession, url: str, client: str, streaming: bool) -> list[str]:
    """``TURNS_PER_CLIENT`` turns one after the other; a description of each failure."""
    failures = []
    for i in range(TURNS_PER_CLIENT):
        prompt = f"{client}:{i}:{PADDING}"
        if streaming:
            async with http.post(
                f"{url}/agents/helper/chatstream", json={"prompt": prompt}, headers=SESSION
            ) as r:
                status, events = r.status, parse_sse(await r.text())
            kinds = [name for name, _ in events]
            if status != 200 or "error" in kinds or kinds[-1:] != ["done"]:
                failures.append(f"{prompt}: HTTP {status}, events {events[-2:]}")
        else:
            status, _, body = await post_json(http, f"{url}/agents/helper/chat", {"prompt": prompt}, SESSION)
            if status != 200 or body.get("status") != "completed":
                failures.append(f"{prompt}: HTTP {status}: {body}")
    return failures


def check_turn(messages: list[Message]) -> str:
    """The prompt of a whole turn: the question, then the answer to it."""
    assert [m.role for m in messages] == ["user", "assistant"], messages
    assert messages[1].text == f"Echo: {messages[0].text}"
    return messages[0].text


# 420 turns through four servers: 80 s on two cores shared at load 13; busier, it outlasts the 120 s default.
@pytest.mark.timeout(300)
async def test_many_serve_processes_many_turns_on_one_session(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER})
    data = tmp_path / "data"
    async with FakeModelServer() as fake:
        env = {
            "AGENTDOWN_PROVIDER": "openai_compatible",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "AGENTDOWN_MODEL": "fake-model",
            "AGENTDOWN_DATA_DIR": str(data),
        }
        servers: list[ServeProcess] = []
        try:
            servers += await start_servers(2, app, env)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

                def clients(batch: list[ServeProcess], first: int) -> list[asyncio.Task[list[str]]]:
                    return [
                        asyncio.create_task(
                            chat_turns(http, server.url, f"s{first + n}c{c}", streaming=c == 0)
                        )
                        for n, server in enumerate(batch)
                        for c in range(CLIENTS_PER_SERVER)
                    ]

                tasks = clients(servers, 0)
                # Two more servers whose first requests open the database while the others write.
                late = await start_servers(SERVERS - 2, app, env)
                servers += late
                tasks += clients(late, 2)
                failures = [f for result in await asyncio.gather(*tasks) for f in result]
        finally:
            output = "".join(server.stop() for server in servers)
    assert failures == [], failures
    assert "Traceback" not in output and "ERROR" not in output, output

    store = SqliteSessionStore(data / "sessions.db")
    try:
        [info] = await store.list()
        history = await store.load(info.agent, "shared")
    finally:
        await store.aclose()
    total = SERVERS * CLIENTS_PER_SERVER * TURNS_PER_CLIENT
    assert history.total_turns == len(history.turns) == total and history.total_messages == 2 * total
    prompts = [check_turn(turn.messages) for turn in history.turns]
    clients_seen = {p.split(":")[0] for p in prompts}
    assert len(clients_seen) == SERVERS * CLIENTS_PER_SERVER
    for client in clients_seen:  # each client's turns, once each and in the order it sent them
        assert [int(p.split(":")[1]) for p in prompts if p.startswith(f"{client}:")] == list(
            range(TURNS_PER_CLIENT)
        )


async def test_an_unavailable_store_is_503_with_retry_after_and_the_request_can_be_resent(
    tmp_path: Path,
) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER})
    db = tmp_path / "sessions.db"
    async with live_server(app, store_path=db) as live, aiohttp.ClientSession() as http:
        # A store that gives up after 0.3 s instead of 30, so the test need not hold a lock that long.
        patient, live.runner.store = live.runner.store, SqliteSessionStore(db, busy_timeout=0.3)
        await patient.aclose()
        url = f"{live.url}/agents/helper"
        status, _, body = await post_json(http, f"{url}/chat", {"prompt": "warm up"}, SESSION)
        assert status == 200, body
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
        try:
            status, headers, body = await post_json(http, f"{url}/chat", {"prompt": "kept"}, SESSION)
            assert status == 503, body
            assert headers["Retry-After"] == "2" and body["code"] == "store_unavailable"
            assert (
                "nothing of this request was saved" in body["error"] and "database is locked" in body["error"]
            )
            async with http.post(f"{url}/chatstream", json={"prompt": "kept"}, headers=SESSION) as response:
                events = parse_sse(await response.text())
            assert events[-1][0] == "error" and events[-1][1]["code"] == "store_unavailable"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        status, _, body = await post_json(http, f"{url}/chat", {"prompt": "kept"}, SESSION)
        assert status == 200 and body["response"] == "Echo: kept", body
        async with http.get(f"{url}/history", headers=SESSION) as response:
            history = (await response.json())["messages"]
    # The refused attempts left nothing half-written; the resent prompt is there once.
    assert [(m["role"], m["text"]) for m in history] == [
        ("user", "warm up"),
        ("assistant", "Echo: warm up"),
        ("user", "kept"),
        ("assistant", "Echo: kept"),
    ]
