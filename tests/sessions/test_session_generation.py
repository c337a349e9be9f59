"""The SQLite store's generation: cached turns are served unread only while no stored turn changed.

Each change here is made through a plain ``sqlite3`` connection (another process's, or an
older agentdown's, or a hand-made migration's): the store's own code does not run, so
only the database's triggers can tell the cache.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from _session_stores import tool_turn

from agentdown.messages import Message
from agentdown.sessions import SqliteSessionStore, estimate_tokens, load_session


def tags(messages: list[Message]) -> list[str]:
    return [m.text for m in messages if m.role == "user"]


async def fill(store: SqliteSessionStore, tag: str, count: int) -> str | None:
    version = None
    for i in range(count):
        version = await store.append("agent", "s", tool_turn(tag, i), expected_version=version)
    return version


async def test_an_unchanged_session_is_served_from_the_cache_reading_only_new_turns(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    try:
        version = await fill(store, "a", 5)
        await store.load("agent", "s")
        misses = store.turn_cache.misses
        await store.append("agent", "s", tool_turn("b", 0), expected_version=version)
        history = await store.load("agent", "s")
        assert tags(history.messages) == [f"a:{i}:q" for i in range(5)] + ["b:0:q"]
        assert store.turn_cache.misses == misses + 1  # only the new turn was parsed
    finally:
        await store.aclose()


async def test_a_turn_rewritten_in_place_by_another_connection_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteSessionStore(path)
    try:
        await fill(store, "a", 3)
        await store.load("agent", "s")
        body = store_body(tool_turn("x", 1))
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE agentdown_turns SET body = ? WHERE seq = 2", (body,))
        history = await store.load("agent", "s")
        assert tags(history.messages) == ["a:0:q", "x:1:q", "a:2:q"]
    finally:
        await store.aclose()


async def test_a_session_deleted_and_recreated_by_another_connection_is_read_anew(tmp_path: Path) -> None:
    """Same agent, session id and turn numbers, same counts: only the content differs."""
    path = tmp_path / "s.db"
    store = SqliteSessionStore(path)
    try:
        await fill(store, "old", 3)
        before = await store.load("agent", "s")
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM agentdown_turns WHERE agent = 'agent' AND session_id = 's'")
            for seq in (1, 2, 3):
                conn.execute(
                    "INSERT INTO agentdown_turns (agent, session_id, seq, message_count, created_at, body) "
                    "VALUES ('agent', 's', ?, 4, 0, ?)",
                    (seq, store_body(tool_turn("new", seq - 1))),
                )
        after = await store.load("agent", "s")
        assert after.version == before.version == "3"
        assert tags(after.messages) == ["new:0:q", "new:1:q", "new:2:q"]
        assert tags((await store.load("agent", "s", max_messages=4)).messages) == ["new:2:q"]
    finally:
        await store.aclose()


async def test_another_store_deleting_and_recreating_with_the_same_texts_is_not_mistaken(
    tmp_path: Path,
) -> None:
    """Identical texts, new message ids: the ids prove which turns were served."""
    path = tmp_path / "s.db"
    store, other = SqliteSessionStore(path), SqliteSessionStore(path)
    try:
        await fill(store, "a", 3)
        await store.load("agent", "s")
        assert await other.delete("agent", "s")
        await fill(other, "a", 3)
        expected = [m.message_id for m in (await other.load("agent", "s")).messages]
        assert [m.message_id for m in (await store.load("agent", "s")).messages] == expected
    finally:
        await store.aclose()
        await other.aclose()


async def test_a_store_that_expired_a_session_elsewhere_invalidates_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store, other = SqliteSessionStore(path), SqliteSessionStore(path)
    try:
        await fill(store, "a", 2)
        await store.load("agent", "s")
        assert await other.expire(0)
        await fill(other, "b", 2)
        assert tags((await store.load("agent", "s")).messages) == ["b:0:q", "b:1:q"]
    finally:
        await store.aclose()
        await other.aclose()


async def test_turns_evicted_from_the_middle_are_read_from_the_file(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    try:
        await fill(store, "a", 6)
        await store.load("agent", "s")
        with store.turn_cache._lock:  # evict turns 3 and 4 only, as the LRU might
            store.turn_cache._drop(("agent", "s", 3))
            store.turn_cache._drop(("agent", "s", 4))
        history = await store.load("agent", "s")
        assert [t.seq for t in history.turns] == [1, 2, 3, 4, 5, 6]
        assert tags(history.messages) == [f"a:{i}:q" for i in range(6)]
    finally:
        await store.aclose()


async def test_loaded_turns_carry_the_estimate_of_their_messages(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    try:
        await fill(store, "a", 3)
        for _ in range(2):  # parsed, then from the cache
            for turn in (await store.load("agent", "s")).turns:
                assert turn.tokens == sum(map(estimate_tokens, turn.messages))
    finally:
        await store.aclose()


async def test_an_auto_load_covers_the_budget_with_the_stores_counts(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    try:
        version = None
        for i in range(200):
            turn = [Message.user(f"q{i} " + "x" * 400), Message.assistant(f"a{i} " + "y" * 400)]
            version = await store.append("agent", "s", turn, expected_version=version)
        for _ in range(3):
            session = await load_session(store, "agent", "s", max_input_tokens=8_000)
            assert sum(map(estimate_tokens, session.messages)) >= 8_000
            assert len(session.messages) < session.total_messages
            assert len(session.messages) % 2 == 0 and session.messages[0].text.startswith("q")
            # A counter of its own (the store's counts are not its) loads the same tail.
            other = await load_session(
                store, "agent", "s", max_input_tokens=8_000, count_tokens=lambda m: estimate_tokens(m)
            )
            assert sum(map(estimate_tokens, other.messages)) >= 8_000
    finally:
        await store.aclose()


def store_body(messages: list[Message]) -> str:
    return json.dumps([m.to_dict() for m in messages], separators=(",", ":"))
