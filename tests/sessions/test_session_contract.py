"""One contract, every store: sqlite, jsonl and azure_blob (against a real Azurite)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from agentdown.messages import Content, Message
from agentdown.sessions import (
    SessionConflictError,
    SessionStore,
    append_with_retry,
)


def turn(tag: str, size: int = 2) -> list[Message]:
    """A user message and ``size - 1`` assistant replies, tagged so order can be checked."""
    return [Message.user(f"{tag}:q")] + [Message.assistant(f"{tag}:a{i}") for i in range(size - 1)]


async def fill(store: SessionStore, agent: str, sid: str, sizes: list[int]) -> str | None:
    version = None
    for i, size in enumerate(sizes):
        version = await store.append(agent, sid, turn(f"t{i}", size), expected_version=version)
    return version


async def test_load_of_a_missing_session_is_empty(store: SessionStore) -> None:
    history = await store.load("agent", "nope")
    assert history.turns == [] and history.messages == []
    assert history.version is None and not history.exists
    assert history.total_turns == 0 and history.total_messages == 0 and history.complete


async def test_append_then_load_round_trips_in_order(store: SessionStore) -> None:
    v1 = await store.append("agent", "s1", turn("a"), expected_version=None)
    v2 = await store.append("agent", "s1", turn("b", 3), expected_version=v1)
    assert v1 != v2
    history = await store.load("agent", "s1")
    assert [t.seq for t in history.turns] == [1, 2]
    assert [m.text for m in history.messages] == ["a:q", "a:a0", "b:q", "b:a0", "b:a1"]
    assert history.version == v2
    assert (history.total_turns, history.total_messages) == (2, 5)
    assert all(t.created_at <= time.time() for t in history.turns)


async def test_bounded_load_returns_newest_whole_turns(store: SessionStore) -> None:
    await fill(store, "agent", "s", [2, 3, 2, 4, 2])  # 13 messages
    for want, seqs in [(1, [5]), (2, [5]), (3, [4, 5]), (6, [4, 5]), (7, [3, 4, 5]), (13, [1, 2, 3, 4, 5])]:
        history = await store.load("agent", "s", max_messages=want)
        assert [t.seq for t in history.turns] == seqs, want
        assert len(history.messages) >= want
        assert history.total_messages == 13 and history.total_turns == 5
    head = await store.load("agent", "s", max_messages=0)
    assert head.turns == [] and head.version == (await store.load("agent", "s")).version
    assert not head.complete and (await store.load("agent", "s", max_messages=100)).complete
    with pytest.raises(ValueError, match="max_messages"):
        await store.load("agent", "s", max_messages=-1)


async def test_stale_version_conflicts_and_writes_nothing(store: SessionStore) -> None:
    v1 = await store.append("agent", "s", turn("a"), expected_version=None)
    await store.append("agent", "s", turn("b"), expected_version=v1)
    with pytest.raises(SessionConflictError, match="changed since it was loaded"):
        await store.append("agent", "s", turn("stale"), expected_version=v1)
    with pytest.raises(SessionConflictError):
        await store.append("agent", "s", turn("new"), expected_version=None)
    history = await store.load("agent", "s")
    assert [m.text for m in history.messages] == ["a:q", "a:a0", "b:q", "b:a0"]


async def test_append_with_retry_lands_after_the_other_writer(store: SessionStore) -> None:
    v1 = await store.append("agent", "s", turn("a"), expected_version=None)
    await store.append("agent", "s", turn("other"), expected_version=v1)
    version = await append_with_retry(store, "agent", "s", turn("mine"), v1)
    history = await store.load("agent", "s")
    assert [t.messages[0].text for t in history.turns] == ["a:q", "other:q", "mine:q"]
    assert history.version == version


async def test_concurrent_appends_in_one_process_keep_every_turn(store: SessionStore) -> None:
    async def writer(name: str) -> None:
        for i in range(10):
            version = (await store.load("agent", "s", max_messages=0)).version
            await append_with_retry(store, "agent", "s", turn(f"{name}{i}"), version)

    await asyncio.gather(*(writer(n) for n in "xyz"))
    history = await store.load("agent", "s")
    assert [t.seq for t in history.turns] == list(range(1, 31))
    for name in "xyz":
        mine = [t.messages[0].text for t in history.turns if t.messages[0].text.startswith(name)]
        assert mine == [f"{name}{i}:q" for i in range(10)]


async def test_list_delete_and_agent_scoping(store: SessionStore) -> None:
    await fill(store, "alpha", "s1", [2])
    await fill(store, "alpha", "s2", [2, 3])
    await fill(store, "beta", "s1", [4])
    assert (await store.load("beta", "s1")).messages[0].text == "t0:q"
    assert len((await store.load("alpha", "s1")).messages) == 2  # same id, other agent: separate
    everything = await store.list()
    assert {(i.agent, i.session_id) for i in everything} == {("alpha", "s1"), ("alpha", "s2"), ("beta", "s1")}
    assert [i.updated_at for i in everything] == sorted((i.updated_at for i in everything), reverse=True)
    alpha = {i.session_id: i for i in await store.list("alpha")}
    assert set(alpha) == {"s1", "s2"}
    if store.kind != "azure_blob":  # blob listings carry no counts
        assert (alpha["s2"].turns, alpha["s2"].messages) == (2, 5)
    assert await store.delete("alpha", "s1") is True
    assert await store.delete("alpha", "s1") is False
    assert (await store.load("alpha", "s1")).version is None
    assert (await store.load("beta", "s1")).total_messages == 4
    assert {i.session_id for i in await store.list("alpha")} == {"s2"}
    assert await store.list("nobody") == []


async def test_deleted_session_can_be_recreated_and_stale_writers_conflict(store: SessionStore) -> None:
    version = await fill(store, "agent", "s", [2, 2])
    await store.delete("agent", "s")
    with pytest.raises(SessionConflictError):
        await store.append("agent", "s", turn("stale"), expected_version=version)
    await store.append("agent", "s", turn("fresh"), expected_version=None)
    assert [m.text for m in (await store.load("agent", "s")).messages] == ["fresh:q", "fresh:a0"]


async def test_expire_deletes_only_idle_sessions(store: SessionStore) -> None:
    # Blob Last-Modified has one-second resolution (truncated), so a blob written just now
    # can look up to a second old: the threshold leaves that second plus a loaded
    # machine's delay between the write and the sweep. The file stores are finer.
    idle = 2.0 if store.kind == "azure_blob" else 0.2
    await fill(store, "agent", "old", [2])
    await fill(store, "other", "old", [2])
    await asyncio.sleep(idle + 0.2)
    await fill(store, "agent", "new", [2])
    assert await store.expire(3600) == []
    gone = await store.expire(idle, agent="agent")
    assert [(i.agent, i.session_id) for i in gone] == [("agent", "old")]
    assert {(i.agent, i.session_id) for i in await store.list()} == {("agent", "new"), ("other", "old")}
    gone = await store.expire(idle)
    assert [(i.agent, i.session_id) for i in gone] == [("other", "old")]
    with pytest.raises(ValueError, match="older_than"):
        await store.expire(-1)


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "x" * 129, "sp ace", "ü"])
async def test_invalid_session_ids_are_refused(store: SessionStore, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid session id"):
        await store.load("agent", bad)
    with pytest.raises(ValueError, match="invalid session id"):
        await store.append("agent", bad, turn("x"), expected_version=None)
    with pytest.raises(ValueError, match="invalid session id"):
        await store.delete("agent", bad)


@pytest.mark.parametrize("bad", ["", "..", ".", "a/b", "My Agent"])
async def test_invalid_agent_names_are_refused(store: SessionStore, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid agent name"):
        await store.load(bad, "s")
    with pytest.raises(ValueError, match="invalid agent name"):
        await store.list(bad)


async def test_edge_ids_are_accepted(store: SessionStore) -> None:
    for sid in [".", "..", "a.jsonl", "x" * 128, "A-b_c.9"]:
        await store.append("agent", sid, turn(sid), expected_version=None)
        assert (await store.load("agent", sid)).messages[0].text == f"{sid}:q"
    assert len(await store.list("agent")) == 5


async def test_messages_round_trip_with_tool_calls_results_and_binary(store: SessionStore) -> None:
    blob = bytes(range(256)) + os.urandom(64)
    call = Content.from_tool_call("lookup", {"q": 'naïve "quoted"\nline', "n": [1, 2]}, call_id="call_1")
    messages = [
        Message.system("be brief"),
        Message(role="user", contents=[Content.from_text("look 🌍"), Content.from_data(blob, "image/png")]),
        Message(role="assistant", contents=[Content.from_reasoning("thinking"), call], author_name="bot"),
        Message(
            role="tool",
            contents=[
                Content.from_tool_result(
                    "call_1", "found", name="lookup", items=[Content.from_uri("https://x/y.png", "image/png")]
                ),
                Content.from_tool_result("call_2", "failed", is_error=True),
            ],
            metadata={"k": [1, {"v": None}]},
        ),
        Message(role="assistant", contents=[Content.from_error("nope", "E1")]),
    ]
    await store.append("agent", "rt", messages, expected_version=None)
    loaded = (await store.load("agent", "rt")).messages
    assert [m.to_dict() for m in loaded] == [m.to_dict() for m in messages]
    assert loaded[1].contents[1].data == blob


async def test_empty_turn_is_refused(store: SessionStore) -> None:
    with pytest.raises(ValueError, match="at least one message"):
        await store.append("agent", "s", [], expected_version=None)
