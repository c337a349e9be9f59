"""Shared loads: the store's cached messages without copies, for readers that never edit them.

``load_shared`` (and ``load_session(..., shared=True)``, the runner's load) hands out
the very objects a store's turn cache keeps; ``load`` keeps handing out copies, and
:meth:`StoredSession.unshare` turns a shared session into a private one.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import timedelta

from _session_stores import tool_turn

from agentdown.messages import Message
from agentdown.sessions import SessionInfo, SessionStore, load_session, save_turn
from agentdown.sessions.store import History, SharedLoads


def dicts(messages: list[Message]) -> list[dict[str, object]]:
    return [m.to_dict() for m in messages]


def edit_everything(messages: list[Message]) -> None:
    """What a careless caller might change in place, at every depth."""
    for message in messages:
        message.metadata["x"] = {"nested": [1]}
        message.author_name = "someone"
        for content in message.contents:
            content.text = "changed"
            if content.arguments is not None:
                content.arguments["tag"] = "changed"
        message.contents.append(Message.user("added").contents[0])


async def append_two(store: SessionStore) -> None:
    version = await store.append("agent", "s", tool_turn("a", 0), expected_version=None)
    await store.append("agent", "s", tool_turn("a", 1), expected_version=version)


async def test_a_shared_load_hands_out_the_cached_objects_and_a_load_still_copies(
    store: SessionStore,
) -> None:
    assert isinstance(store, SharedLoads)
    await append_two(store)
    first = await store.load_shared("agent", "s")
    second = await store.load_shared("agent", "s")
    assert len(second.messages) == 8
    # Not copied per load: the same objects, request after request.
    assert all(a is b for a, b in zip(first.messages, second.messages, strict=True))
    # ... in a list of the caller's own: growing it does not reach the cache.
    mine = second.messages
    mine.append(Message.user("mine"))
    expected = dicts(first.messages)
    assert len((await store.load_shared("agent", "s")).messages) == 8
    # A plain load still gets private copies: editing them reaches no shared load.
    copied = await store.load("agent", "s")
    assert not any(a is b for a, b in zip(copied.messages, first.messages, strict=True))
    assert dicts(copied.messages) == expected
    edit_everything(copied.messages)
    assert dicts((await store.load_shared("agent", "s")).messages) == expected
    assert dicts((await store.load("agent", "s")).messages) == expected


async def test_unshare_swaps_in_private_copies_in_place(store: SessionStore) -> None:
    await append_two(store)
    session = await load_session(store, "agent", "s", shared=True)
    loaded = list(session.messages)
    assert len(session.shared) == 8 and all(a is b for a, b in zip(session.shared, loaded, strict=True))
    the_list = session.messages
    added = Message.user("new")
    session.messages.append(added)
    copies = session.unshare()
    assert session.messages is the_list and session.shared == []
    assert session.messages[-1] is added  # what the run added is not a store's, it stays
    assert not any(a is b for a, b in zip(session.messages[:8], loaded, strict=True))
    assert dicts(session.messages[:8]) == dicts(loaded)
    assert [copies[id(m)] for m in loaded] == session.messages[:8]
    assert session.unshare() == {}  # once
    edit_everything(session.messages)
    again = await load_session(store, "agent", "s", shared=True)
    assert dicts(again.messages) == dicts(loaded)
    assert all(a is b for a, b in zip(again.messages, loaded, strict=True))


async def test_a_shared_session_saves_like_any_other(store: SessionStore) -> None:
    await append_two(store)
    session = await load_session(store, "agent", "s", shared=True, max_messages=4)
    assert len(session.messages) == 4 and session.saved == 4
    session.messages.extend(tool_turn("b", 0))
    assert await save_turn(store, session) is not None
    history = await store.load("agent", "s")
    assert history.total_turns == 3 and history.messages[-4].text == "b:0:q"


class CopyingOnly:
    """A third-party store: the protocol and nothing else (no ``load_shared``)."""

    kind = "custom"

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.loads = 0

    async def load(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        self.loads += 1
        return await self.inner.load(agent, session_id, max_messages=max_messages)

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], *, expected_version: str | None
    ) -> str:
        return await self.inner.append(agent, session_id, messages, expected_version=expected_version)

    async def list(self, agent: str | None = None) -> builtins.list[SessionInfo]:
        return await self.inner.list(agent)

    async def delete(self, agent: str, session_id: str) -> bool:
        return await self.inner.delete(agent, session_id)

    async def expire(
        self, older_than: timedelta | float, *, agent: str | None = None
    ) -> builtins.list[SessionInfo]:
        return await self.inner.expire(older_than, agent=agent)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_store_without_shared_loads_gives_copies_and_shares_nothing(store: SessionStore) -> None:
    await append_two(store)
    expected = dicts((await store.load("agent", "s")).messages)
    custom = CopyingOnly(store)
    assert isinstance(custom, SessionStore) and not isinstance(custom, SharedLoads)
    session = await load_session(custom, "agent", "s", shared=True)
    assert custom.loads >= 1 and len(session.messages) == 8
    assert session.shared == [] and session.unshare() == {}
    edit_everything(session.messages)
    assert dicts((await load_session(custom, "agent", "s", shared=True)).messages) == expected
