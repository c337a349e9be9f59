"""Sessions written by the Azure Functions agents runtime (one message per line) stay readable and writable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from _hosting_kit import SAMPLE, Hosted, http
from azure.storage.blob.aio import BlobServiceClient

from agentdown.hosting import create_function_app
from agentdown.messages import Message
from agentdown.sessions.functions_blob import FunctionsBlobSessionStore, select_store, uses_functions_format
from agentdown.sessions.functions_format import line_of, message_of
from agentdown.sessions.store import SessionConflictError
from azurite_peer import Azurite

# Lines exactly as its BlobHistoryProvider writes them: json.dumps(Message.to_dict()) + "\n"
# (Agent Framework's serialisation; the second line in the older role form).
THEIR_LINES = [
    {"type": "message", "role": "user", "contents": [{"type": "text", "text": "What time is it?"}]},
    {
        "type": "message",
        "role": {"type": "role", "value": "assistant"},
        "contents": [{"type": "function_call", "call_id": "call_1", "name": "clock", "arguments": "{}"}],
    },
    {
        "type": "message",
        "role": "tool",
        "contents": [{"type": "function_result", "call_id": "call_1", "result": "12:00"}],
    },
    {
        "type": "message",
        "role": "assistant",
        "contents": [{"type": "text", "text": "It is noon."}],
        "message_id": "msg_9",
        "additional_properties": {},
    },
]


@pytest.fixture
async def blobs(azurite: Azurite) -> AsyncIterator[BlobServiceClient]:
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        yield service


async def _put(service: BlobServiceClient, name: str, lines: list[dict[str, object]]) -> None:
    container = service.get_container_client("azure-functions-agents")
    if not await container.exists():
        await container.create_container()
    blob = container.get_blob_client(name)
    await blob.create_append_blob()
    await blob.append_block("".join(json.dumps(line) + "\n" for line in lines).encode())


async def _lines(service: BlobServiceClient, name: str) -> list[dict[str, object]]:
    data = await (await service.get_blob_client("azure-functions-agents", name).download_blob()).readall()
    return [json.loads(line) for line in data.decode().splitlines()]


def test_the_selection_rule() -> None:
    assert not uses_functions_format({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert uses_functions_format({"AZURE_FUNCTIONS_AGENTS_SESSION_CONTAINER": "c"})
    assert uses_functions_format({"AZURE_FUNCTIONS_AGENTS_MODEL": "gpt"})
    assert not uses_functions_format(
        {"AZURE_FUNCTIONS_AGENTS_MODEL": "gpt", "AGENTDOWN_SESSION_FORMAT": "agentdown"}
    )
    assert uses_functions_format({"AGENTDOWN_SESSION_FORMAT": "functions"})
    store = select_store(
        {"AGENTDOWN_SESSION_FORMAT": "functions", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    )
    assert isinstance(store, FunctionsBlobSessionStore) and store.container == "azure-functions-agents"


def test_lines_round_trip() -> None:
    ours = [message_of(line) for line in THEIR_LINES]
    assert [m.role for m in ours] == ["user", "assistant", "tool", "assistant"]
    assert ours[1].tool_calls[0].arguments == {} and ours[2].tool_results[0].text == "12:00"
    again = [message_of(json.loads(line_of(m))) for m in ours]
    assert [(m.role, m.text, m.message_id) for m in again] == [(m.role, m.text, m.message_id) for m in ours]
    assert json.loads(line_of(Message.user("x")))["contents"] == [{"type": "text", "text": "x"}]


async def test_history_reads_their_session_and_chat_appends_in_their_format(
    env: dict[str, str], azurite: Azurite, blobs: BlobServiceClient
) -> None:
    name = "agent-sessions/main/moved-1.jsonl"
    await _put(blobs, name, THEIR_LINES)
    settings = {
        **env,
        "AzureWebJobsStorage": azurite.connection_string,
        "AZURE_FUNCTIONS_AGENTS_SESSION_CONTAINER": "azure-functions-agents",
    }
    hosted = Hosted(create_function_app(SAMPLE, environ=settings))
    try:
        headers = {"x-ms-session-id": "moved-1"}
        history = await hosted.call(
            "agent_main_builtin_history", http("GET", "/agents/main/history", headers=headers)
        )
        entries = json.loads(history.get_body())["messages"]
        assert [(e["role"], e["text"]) for e in entries] == [
            ("user", "What time is it?"),
            ("assistant", "It is noon."),
        ]
        assert entries[1]["tool_calls"][0]["tool_name"] == "clock"

        chat = await hosted.call(
            "agent_main_builtin_chat", http("POST", "/agents/main/chat", {"prompt": "And now?"}, headers)
        )
        assert chat.status_code == 200, chat.get_body()
        lines = await _lines(blobs, name)
        assert lines[:4] == THEIR_LINES
        added = lines[4:]
        assert [line["role"] for line in added] == ["user", "assistant", "tool", "assistant"]
        assert added[0]["contents"] == [{"type": "text", "text": "And now?"}]
        assert added[1]["contents"][0]["type"] == "function_call"  # type: ignore[index]
        assert added[2]["contents"][0]["type"] == "function_result"  # type: ignore[index]
    finally:
        await hosted.aclose()


async def test_a_session_of_an_older_version_is_read_and_continued(
    env: dict[str, str], azurite: Azurite, blobs: BlobServiceClient
) -> None:
    await _put(blobs, "agent-sessions/legacy-1.jsonl", THEIR_LINES[:1] + THEIR_LINES[3:])
    settings = {
        **env,
        "AzureWebJobsStorage": azurite.connection_string,
        "AGENTDOWN_SESSION_FORMAT": "functions",
    }
    hosted = Hosted(create_function_app(SAMPLE, environ=settings))
    try:
        headers = {"x-ms-session-id": "legacy-1"}
        chat = await hosted.call(
            "agent_main_builtin_chat", http("POST", "/agents/main/chat", {"prompt": "more"}, headers)
        )
        assert chat.status_code == 200
        assert len(await _lines(blobs, "agent-sessions/legacy-1.jsonl")) == 2 + 4
        sessions = await hosted.app.agentdown.runner.store.list("main")  # type: ignore[attr-defined]
        assert "legacy-1" not in [s.session_id for s in sessions]  # listed sessions name an agent
    finally:
        await hosted.aclose()


async def test_the_store_orders_writers_and_lists_deletes_expires(azurite: Azurite) -> None:
    store = FunctionsBlobSessionStore(connection_string=azurite.connection_string, container="fa-store-test")
    try:
        first = await store.append(
            "main", "s-1", [Message.user("a"), Message.assistant("b")], expected_version=None
        )
        with pytest.raises(SessionConflictError):
            await store.append("main", "s-1", [Message.user("x")], expected_version=None)
        second = await store.append("main", "s-1", [Message.user("c")], expected_version=first)
        with pytest.raises(SessionConflictError):
            await store.append("main", "s-1", [Message.user("late")], expected_version=first)
        history = await store.load("main", "s-1", max_messages=1)
        assert (history.version, history.total_turns, history.total_messages) == (second, 2, 3)
        assert [m.text for m in history.messages] == ["c"]
        assert [s.session_id for s in await store.list("main")] == ["s-1"]
        assert await store.expire(3600) == []
        assert [s.session_id for s in await store.expire(0)] == ["s-1"]
        assert not await store.delete("main", "s-1")
        assert (await store.load("main", "s-1")).version is None
    finally:
        await store.aclose()
