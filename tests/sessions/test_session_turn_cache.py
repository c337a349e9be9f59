"""The stores' cache of decoded turns: never stale, never shared with callers of load, always bounded."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _session_stores import build_store, check_tool_turn, tool_turn

from agentdown.messages import Content, Message
from agentdown.sessions import JsonlSessionStore, SessionStore, SqliteSessionStore, load_session, save_turn
from agentdown.sessions.turncache import TurnCache, copy_messages


def cache_of(store: SessionStore) -> TurnCache:
    cache = getattr(store, "turn_cache", None)
    assert isinstance(cache, TurnCache)
    return cache


async def append_turns(store: SessionStore, tag: str, count: int, version: str | None) -> str | None:
    for i in range(count):
        version = await store.append("agent", "s", tool_turn(tag, i), expected_version=version)
    return version


def tags(messages: list[Message]) -> list[str]:
    return [m.text.split(":")[0] + ":" + m.text.split(":")[1] for m in messages if m.role == "user"]


async def test_a_second_store_on_the_same_data_appends_and_the_next_load_sees_it(
    store_config_for: dict[str, str],
) -> None:
    first, second = build_store(store_config_for), build_store(store_config_for)
    try:
        version = await append_turns(first, "a", 3, None)
        assert len((await first.load("agent", "s")).turns) == 3  # now cached by ``first``
        await second.append("agent", "s", tool_turn("b", 0), expected_version=version)
        history = await first.load("agent", "s")
        assert history.total_turns == 4 and [t.seq for t in history.turns] == [1, 2, 3, 4]
        assert tags(history.messages) == ["a:0", "a:1", "a:2", "b:0"]
        for turn in history.turns:
            check_tool_turn(turn.messages)
        assert cache_of(first).hits == 3  # the unchanged turns were not parsed again
    finally:
        await first.aclose()
        await second.aclose()


async def test_another_process_appends_and_the_next_load_sees_it(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteSessionStore(path)
    try:
        await append_turns(store, "a", 2, None)
        await store.load("agent", "s")
        writer = textwrap.dedent(
            f"""
            import asyncio, sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from _session_stores import tool_turn
            from agentdown.sessions import SqliteSessionStore

            async def main():
                store = SqliteSessionStore({str(path)!r})
                version = "2"
                for i in range(3):
                    version = await store.append("agent", "s", tool_turn("p", i), expected_version=version)
                await store.aclose()

            asyncio.run(main())
            """
        )
        subprocess.run([sys.executable, "-c", writer], check=True, timeout=60)
        history = await store.load("agent", "s")
        assert history.version == "5" and history.total_messages == 20
        assert tags(history.messages) == ["a:0", "a:1", "p:0", "p:1", "p:2"]
    finally:
        await store.aclose()


async def test_a_session_deleted_and_recreated_elsewhere_is_read_anew(
    store_config_for: dict[str, str],
) -> None:
    """The same (agent, session, seq) now holds another turn: the cached one must not be served."""
    store, other = build_store(store_config_for), build_store(store_config_for)
    try:
        await append_turns(store, "old", 3, None)
        await store.load("agent", "s")
        assert await other.delete("agent", "s")
        await append_turns(other, "new", 3, None)
        history = await store.load("agent", "s")
        assert tags(history.messages) == ["new:0", "new:1", "new:2"]
        assert cache_of(store).hits == 0
    finally:
        await store.aclose()
        await other.aclose()


def mutate(messages: list[Message]) -> None:
    """Everything a caller could change in place, at every depth."""
    for message in messages:
        message.metadata["x"] = {"nested": [1]}
        message.author_name = "someone"
        for content in message.contents:
            content.text = "changed"
            content.additional_properties["x"] = 1
            if content.arguments is not None:
                content.arguments["tag"] = "changed"
                content.arguments.setdefault("deep", {})["k"] = [1]
        message.contents.append(Content.from_text("added"))
    messages.append(Message.user("appended"))


async def test_mutating_loaded_messages_does_not_leak_into_the_next_load(store: SessionStore) -> None:
    first = tool_turn("a", 0)
    first[1].contents[0].arguments = {"tag": "a", "i": 0, "deep": {"list": [1, {"k": "v"}]}}
    first[0].metadata["nested"] = {"list": [1, 2]}
    version = await store.append("agent", "s", first, expected_version=None)
    await store.append("agent", "s", tool_turn("a", 1), expected_version=version)
    expected = [m.to_dict() for m in (await store.load("agent", "s")).messages]
    for _ in range(2):  # the first load parses (and caches), the second copies from the cache
        loaded = await store.load("agent", "s")
        for turn in loaded.turns:
            mutate(turn.messages)
            for m in turn.messages[:-1]:
                m.metadata["nested"] = "replaced"
        assert [m.to_dict() for m in (await store.load("agent", "s")).messages] == expected
    assert cache_of(store).hits >= 4


async def test_a_mutated_loaded_message_is_counted_afresh(tmp_path: Path) -> None:
    """The cache hands out copies; the request's TokenCache still sees the caller's edits."""
    store = SqliteSessionStore(tmp_path / "s.db")
    try:
        await store.append("agent", "s", tool_turn("a", 0), expected_version=None)
        session = await load_session(store, "agent", "s")
        call = session.messages[1]
        before = session.count_tokens(call)
        assert call.contents[0].arguments is not None
        call.contents[0].arguments["tag"] = "x" * 4000
        assert session.count_tokens(call) >= before + 1000
        again = await load_session(store, "agent", "s")
        assert again.count_tokens(again.messages[1]) == before
    finally:
        await store.aclose()


async def test_the_cache_stays_within_its_bound(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db", turn_cache_bytes=20_000)
    try:
        version = None
        for i in range(40):
            version = await store.append(
                "agent", "s", tool_turn("a", i, padding=300), expected_version=version
            )
            history = await store.load("agent", "s", max_messages=400)
            assert store.turn_cache.size <= 20_000
        assert len(history.turns) == 40
        assert [check_tool_turn(t.messages)[1] for t in history.turns] == list(range(40))
        kept = len(store.turn_cache)
        assert 0 < kept < 40
        # The newest turns are the ones kept (least recently used go first).
        recent = await store.load("agent", "s", max_messages=4)
        assert store.turn_cache.hits > 0 and len(recent.turns) == 1
    finally:
        await store.aclose()


async def test_the_jsonl_cache_stays_within_its_bound(tmp_path: Path) -> None:
    store = JsonlSessionStore(tmp_path / "sessions", turn_cache_bytes=20_000)
    version = None
    for i in range(40):
        version = await store.append("agent", "s", tool_turn("a", i, padding=300), expected_version=version)
        history = await store.load("agent", "s", max_messages=400)
        assert store.turn_cache.size <= 20_000
    assert [check_tool_turn(t.messages)[1] for t in history.turns] == list(range(40))
    assert 0 < len(store.turn_cache) < 40
    await store.aclose()
    assert len(store.turn_cache) == 0


async def test_a_turn_larger_than_the_bound_is_read_but_not_kept(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db", turn_cache_bytes=1_000)
    try:
        await store.append("agent", "s", tool_turn("a", 0, padding=2_000), expected_version=None)
        for _ in range(2):
            check_tool_turn((await store.load("agent", "s")).messages)
        assert len(store.turn_cache) == 0 and store.turn_cache.size == 0 and store.turn_cache.hits == 0
    finally:
        await store.aclose()


async def test_a_zero_bound_disables_the_cache(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db", turn_cache_bytes=0)
    try:
        await append_turns(store, "a", 3, None)
        for _ in range(2):
            assert len((await store.load("agent", "s")).turns) == 3
        assert len(store.turn_cache) == 0 and store.turn_cache.misses == 6
    finally:
        await store.aclose()


async def test_deleting_a_session_drops_its_cached_turns(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    try:
        await append_turns(store, "a", 3, None)
        await store.append("agent", "t", tool_turn("b", 0), expected_version=None)
        await store.load("agent", "s")
        await store.load("agent", "t")
        assert len(store.turn_cache) == 4
        await store.delete("agent", "s")
        assert len(store.turn_cache) == 1
        assert await store.expire(0) and len(store.turn_cache) == 0
    finally:
        await store.aclose()


async def test_a_turn_saved_through_the_bridge_round_trips_via_the_cache(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    try:
        session = await load_session(store, "agent", "s")
        session.messages.extend(tool_turn("a", 0))
        await save_turn(store, session)
        for _ in range(3):
            again = await load_session(store, "agent", "s")
            assert [m.to_dict() for m in again.messages] == [m.to_dict() for m in session.messages]
    finally:
        await store.aclose()


def test_copies_share_nothing_mutable() -> None:
    item = Content(type="text", text="inner", additional_properties={"a": [1]})
    content = Content(
        type="tool_result",
        text="t",
        call_id="c",
        name="n",
        arguments={"a": {"b": [1, {"c": 2}]}},
        raw_arguments="{}",
        items=[item],
        is_error=True,
        uri="u",
        data=b"\x00",
        media_type="m",
        error_code="e",
        additional_properties={"p": {"q": [1]}},
    )
    message = Message(
        role="tool",
        contents=[content],
        author_name="x",
        message_id="m1",
        created_at=1.0,
        metadata={"k": {"v": [1]}},
    )
    (copy,) = copy_messages([message])
    assert copy == message and copy is not message

    def containers(value: object) -> list[int]:
        if isinstance(value, (list, dict)):
            children = value.values() if isinstance(value, dict) else value
            return [id(value)] + [i for child in children for i in containers(child)]
        if dataclasses.is_dataclass(value):
            return [id(value)] + [
                i for f in dataclasses.fields(value) for i in containers(getattr(value, f.name))
            ]
        return []

    assert not set(containers(copy)) & set(containers(message))


def test_the_copy_knows_every_field() -> None:
    """``copy_messages`` passes fields by position: a new or moved field must be added there too."""
    assert [f.name for f in dataclasses.fields(Message)] == [
        "role", "contents", "author_name", "message_id", "created_at", "metadata"
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(Content)] == [
        "type", "text", "call_id", "name", "arguments", "raw_arguments", "items", "is_error",
        "uri", "data", "media_type", "error_code", "additional_properties",
    ]  # fmt: skip


def test_the_cache_rejects_a_bad_bound_and_keeps_nothing_on_a_parse_error() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        TurnCache(-1)
    cache = TurnCache(1_000)

    def broken(record: str | bytes) -> list[Message]:
        return [Message.from_dict(m) for m in json.loads(record)]

    with pytest.raises(json.JSONDecodeError):
        cache.load("a", "s", [(1, "not json", 0.0)], broken)
    assert len(cache) == 0 and cache.size == 0


def test_copies_of_one_plain_content_share_nothing_mutable() -> None:
    """The inline path (one content, no arguments, items or properties) is a deep copy too."""
    messages = [
        Message(role="user", contents=[Content(type="text", text="hi", name="n")], metadata={"k": [1]}),
        Message(role="assistant", contents=[Content(type="text", text="yo", is_error=True)]),
        Message(role="assistant", contents=[Content(type="text", text="a"), Content(type="text", text="b")]),
        Message(role="tool", contents=[Content(type="tool_result", call_id="c", text="r", uri="u")]),
    ]
    copies = copy_messages(messages)
    assert copies == messages
    for copy, original in zip(copies, messages, strict=True):
        assert copy is not original and copy.contents is not original.contents
        assert copy.metadata is not original.metadata
        for c, o in zip(copy.contents, original.contents, strict=True):
            assert c is not o and c.additional_properties is not o.additional_properties
    copies[0].metadata["k"].append(2)
    copies[0].contents[0].additional_properties["x"] = 1
    copies[1].contents.append(Content(type="text", text="more"))
    assert messages[0].metadata == {"k": [1]} and messages[0].contents[0].additional_properties == {}
    assert len(messages[1].contents) == 1
