"""A paused turn is kept in the session and answered over HTTP: /chat, /chatstream, /history, MCP."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
from serverkit import agent_md, live_server, parse_sse, post_json, write_app

from agentdown.messages import Message
from agentdown.runtime.pending import PENDING_KEY
from agentdown.server.settings import ServerSettings
from agentdown.testing import CallInfo, Reply, tool_call

GATED = agent_md("name: Banker\ndescription: Moves money.\nbuiltin_endpoints: true", "Pay when asked.")
TOOLS = '''
import json
from pathlib import Path

from agentdown import tool

LEDGER = Path(__file__).resolve().parents[1] / "paid.jsonl"

@tool(approval_mode="always_require")
def pay(to: str, amount: int) -> str:
    """Pay someone."""
    with LEDGER.open("a") as fh:
        fh.write(json.dumps([to, amount]) + "\\n")
    return f"paid {amount} to {to}"
'''


def banker(messages: list[Message], info: CallInfo) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return "Result: " + "; ".join(c.text or "" for c in last.contents)
    return [tool_call("pay", {"to": "alice", "amount": 5}, call_id="call_pay")]


def _paid(live: Any) -> list[tuple[str, int]]:
    ledger = live.catalog.app_dir / "paid.jsonl"
    if not ledger.exists():
        return []
    return [tuple(json.loads(line)) for line in ledger.read_text().splitlines()]  # type: ignore[misc]


def _app(tmp_path: Path) -> Path:
    return write_app(tmp_path, {"banker.agent.md": GATED, "tools/pay_tools.py": TOOLS})


async def test_a_paused_chat_turn_is_kept_refuses_new_prompts_and_resumes(tmp_path: Path) -> None:
    async with live_server(_app(tmp_path), banker) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/agents/banker/chat"
        status, _headers, body = await post_json(http, url, {"prompt": "pay alice 5"})
        assert status == 200
        assert body["status"] == "requires_action"
        assert body["pending"] == [
            {
                "tool_call_id": "call_pay",
                "tool_name": "pay",
                "arguments": {"to": "alice", "amount": 5},
                "kind": "approval",
            }
        ]
        sid = body["session_id"]
        assert body["resume"] == {"session_id": sid, "send": {"approvals": {"call_pay": True}}}
        assert _paid(live) == []

        # The prompt and the pending call are in the session (history shows them, with `pending`).
        async with http.get(f"{live.url}/agents/banker/history", headers={"x-ms-session-id": sid}) as r:
            history = await r.json()
        assert history["messages"][0] == {"role": "user", "text": "pay alice 5"}
        assert history["messages"][1]["tool_calls"][0]["result"] is None
        assert history["pending"][0]["tool_call_id"] == "call_pay"

        # A new prompt meanwhile is refused, naming the pending call; nothing is lost or run.
        status, _, refused = await post_json(http, url, {"prompt": "hello?"}, {"x-ms-session-id": sid})
        assert status == 409 and refused["code"] == "turn_pending"
        assert "pay (call_pay)" in refused["error"] and refused["pending"][0]["tool_name"] == "pay"
        status, _, _ = await post_json(
            http, url.replace("/chat", "/chatstream"), {"prompt": "x"}, {"x-ms-session-id": sid}
        )
        assert status == 409

        # Decisions for calls that are not pending, or missing ones, are refused.
        status, _, bad = await post_json(http, url, {"approvals": {"forged": True}}, {"x-ms-session-id": sid})
        assert status == 400 and bad["code"] == "invalid_decisions"
        status, _, bad = await post_json(
            http, url, {"approvals": {"call_pay": "yes"}}, {"x-ms-session-id": sid}
        )
        assert status == 400
        assert _paid(live) == []

        status, _, done = await post_json(
            http, url, {"approvals": {"call_pay": True}}, {"x-ms-session-id": sid}
        )
        assert status == 200 and done["status"] == "completed"
        assert done["response"] == "Result: paid 5 to alice"
        assert _paid(live) == [("alice", 5)]

        # Resumed once: answering again has nothing to answer.
        status, _, again = await post_json(
            http, url, {"approvals": {"call_pay": True}}, {"x-ms-session-id": sid}
        )
        assert status == 409 and again["code"] == "nothing_pending"
        assert _paid(live) == [("alice", 5)]

        stored = await live.runner.history("banker", sid)
        assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
        # The model saw the whole turn after the decision.
        last_request = live.fake.requests[-1].body["messages"]
        assert [m["role"] for m in last_request][-3:] == ["user", "assistant", "tool"]


async def test_a_denied_call_is_not_run_and_the_model_is_told(tmp_path: Path) -> None:
    async with live_server(_app(tmp_path), banker) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/agents/banker/chat"
        _, _, body = await post_json(http, url, {"prompt": "pay"})
        sid = body["session_id"]
        status, _, done = await post_json(
            http, url, {"approvals": {"call_pay": False}}, {"x-ms-session-id": sid}
        )
        assert status == 200 and "rejected" in done["response"]
        assert _paid(live) == []


async def test_the_stream_pauses_and_resumes(tmp_path: Path) -> None:
    async with live_server(_app(tmp_path), banker) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/agents/banker/chatstream"
        async with http.post(url, json={"prompt": "pay alice"}) as r:
            sid = r.headers["x-ms-session-id"]
            frames = parse_sse(await r.text())
        done = frames[-1][1]
        assert done["type"] == "done" and done["status"] == "requires_action"
        assert done["pending"][0]["tool_call_id"] == "call_pay"

        async with http.post(
            url, json={"approvals": {"call_pay": True}}, headers={"x-ms-session-id": sid}
        ) as r:
            assert r.status == 200
            frames = parse_sse(await r.text())
        types = [f[1]["type"] for f in frames]
        assert types[0] == "session" and "tool_end" in types and types[-1] == "done"
        assert next(f[1] for f in frames if f[1]["type"] == "tool_end")["result"] == "paid 5 to alice"
        assert (
            "".join(f[1]["content"] for f in frames if f[1]["type"] == "delta") == "Result: paid 5 to alice"
        )
        assert frames[-1][1]["status"] == "completed"


async def test_a_pending_turn_can_be_discarded(tmp_path: Path) -> None:
    async with live_server(_app(tmp_path), banker) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/agents/banker/chat"
        _, _, body = await post_json(http, url, {"prompt": "pay"})
        sid = body["session_id"]
        status, _, dropped = await post_json(http, url, {"discard": True}, {"x-ms-session-id": sid})
        assert status == 200 and dropped["status"] == "discarded"
        assert dropped["discarded"][0]["tool_call_id"] == "call_pay"
        stored = await live.runner.history("banker", sid)
        assert "discarded" in (stored[-1].contents[0].text or "")
        # The session takes prompts again; the model reads that the call was not run.
        status, _, _ = await post_json(http, url, {"prompt": "hi"}, {"x-ms-session-id": sid})
        assert status == 200
        assert _paid(live) == []


async def test_an_expired_pending_turn_is_closed_with_a_note(tmp_path: Path) -> None:
    async with live_server(_app(tmp_path), banker) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/agents/banker/chat"
        _, _, body = await post_json(http, url, {"prompt": "pay"})
        sid = body["session_id"]
        # Age the stored marker, as 24 hours would.
        store = live.runner.store
        history = await store.load("banker", sid)
        last = history.turns[-1].messages[-1]
        assert PENDING_KEY in last.metadata
        turn_messages = history.turns[-1].messages
        turn_messages[-1].metadata[PENDING_KEY]["expires_at"] = time.time() - 1
        await store.delete("banker", sid)
        await store.append("banker", sid, turn_messages, expected_version=None)

        status, _, late = await post_json(
            http, url, {"approvals": {"call_pay": True}}, {"x-ms-session-id": sid}
        )
        assert status == 410 and late["code"] == "pending_expired"
        assert _paid(live) == []
        stored = await live.runner.history("banker", sid)
        assert "expired" in (stored[-1].contents[0].text or "")
        status, _, ok = await post_json(http, url, {"prompt": "hello again"}, {"x-ms-session-id": sid})
        assert status == 200 and ok["status"] == "requires_action"


def _principal(oid: str) -> str:
    claims = [
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
        {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": "tenant-1"},
    ]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()


ENTRA = agent_md(
    "name: Private\ndescription: Per-user.\nbuiltin_endpoints: true\nhttp_auth: entra", "Answer."
)


async def test_another_principals_session_is_not_found(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"private.agent.md": ENTRA})
    settings = ServerSettings(port=0, trust_client_principal=True)
    async with live_server(app, settings=settings) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/agents/private/chat"
        alice = {"x-ms-client-principal": _principal("alice")}
        mallory = {"x-ms-client-principal": _principal("mallory")}
        status, _, body = await post_json(http, url, {"prompt": "my secret is zebra-quartz"}, alice)
        assert status == 200
        sid = body["session_id"]
        # Mallory knows the id: history, chat and chatstream all answer 404, and nothing is appended.
        async with http.get(
            f"{live.url}/agents/private/history", headers={**mallory, "x-ms-session-id": sid}
        ) as r:
            assert r.status == 404 and "zebra-quartz" not in await r.text()
        status, _, refused = await post_json(
            http, url, {"prompt": "what is my secret?"}, {**mallory, "x-ms-session-id": sid}
        )
        assert status == 404 and refused["code"] == "session_not_found"
        async with http.post(
            url.replace("/chat", "/chatstream"),
            json={"prompt": "x"},
            headers={**mallory, "x-ms-session-id": sid},
        ) as r:
            assert r.status == 404
        # Alice still has her conversation, untouched.
        status, _, _again = await post_json(http, url, {"prompt": "and?"}, {**alice, "x-ms-session-id": sid})
        assert status == 200
        stored = await live.runner.history("private", sid, principal="aad:tenant-1:alice")
        assert [m.text for m in stored if m.role == "user"] == ["my secret is zebra-quartz", "and?"]


async def test_mcp_says_what_waits_and_takes_the_answer_in_a_second_call(tmp_path: Path) -> None:
    from mcp.client import Client

    files = {
        "banker.agent.md": GATED.replace(
            "builtin_endpoints: true", "builtin_endpoints: {chat_api: true, mcp: true}"
        ),
        "tools/pay_tools.py": TOOLS,
    }
    async with live_server(write_app(tmp_path, files), banker) as live, Client(f"{live.url}/mcp") as mcp:
        first = await mcp.call_tool("banker", {"prompt": "pay alice"})
        assert not first.is_error
        body = json.loads(first.content[0].text)  # type: ignore[union-attr]
        assert body["status"] == "requires_action"
        # Never an empty success: the text a model reads names the call and the exact answer.
        assert "pay" in body["response"] and "call_pay" in body["response"]
        assert '"approvals": {"call_pay": true}' in body["response"]
        assert _paid(live) == []

        refused = await mcp.call_tool("banker", {"prompt": "again", "session_id": body["session_id"]})
        assert refused.is_error
        assert json.loads(refused.content[0].text)["code"] == "turn_pending"  # type: ignore[union-attr]

        done = await mcp.call_tool(
            "banker", {"session_id": body["session_id"], "approvals": {"call_pay": True}}
        )
        assert not done.is_error
        answer = json.loads(done.content[0].text)  # type: ignore[union-attr]
        assert answer["status"] == "completed" and answer["response"] == "Result: paid 5 to alice"
        assert _paid(live) == [("alice", 5)]
