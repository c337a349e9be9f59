"""Bridging a :class:`SessionStore` to ``Agent.run``: load the tail, run, append what the run added.

Intended use (the runner and the server do exactly this)::

    store = default_store()                      # or store_from_env(...), SqliteSessionStore(...)
    async with open_session(store, "support", session_id, truncation=strategy) as session:
        result = await agent.run(prompt, session=session)
    # on leaving the block the run's new messages were appended as one turn

or, spelled out::

    session = await load_session(store, "support", session_id, truncation=strategy)
    result = await agent.run(prompt, session=session)
    await save_turn(store, session)

:func:`load_session` reads only the tail the truncation strategy needs (for ``auto``
it grows the tail until the token budget is covered). ``Agent.run`` extends
``session.messages`` once, at the end of the run; :func:`save_turn` appends exactly
the messages after the loaded ones, with :func:`append_with_retry`: if another writer
appended meanwhile, the turn lands after theirs, whole. ``open_session`` also saves
when the block raises (a timed-out or cancelled run commits its consistent partial
turn to the session), so nothing the run committed is lost.

A :class:`StoredSession` is for one request: it does not see turns other writers
add after it was loaded.

``shared=True`` (what the runner passes) skips copying the turns the store keeps
decoded (:class:`~agentdown.sessions.store.SharedLoads`): on a long ``auto`` session
that copy (some 130 messages per request) was the largest part of what agentdown added
to a request at turn 500 (``bench/session_growth.py``). The loaded
messages are then the store's cache, shared with every other request on the session:
they are listed in :attr:`StoredSession.shared`, must not be edited, and
:meth:`StoredSession.unshare` swaps in private copies. The run loop calls it before a
tool or function middleware (user code, which gets the session as
``context.session``) can see the history, so there an edit stays in the request, as
with a copying load; a turn without tool calls never copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentdown.messages import Message, new_id
from agentdown.sessions.copies import copy_messages
from agentdown.sessions.session import Session
from agentdown.sessions.store import (
    History,
    SessionConflictError,
    SessionStore,
    Turn,
    validate_agent_name,
)
from agentdown.sessions.truncation import (
    DEFAULT_MAX_INPUT_TOKENS,
    TokenCache,
    TokenCounter,
    TruncationStrategy,
    estimate_tokens,
)

__all__ = ["StoredSession", "append_with_retry", "load_session", "open_session", "save_turn"]

DEFAULT_ATTEMPTS = 30
AUTO_FIRST_LOAD = 64
"""Messages an ``auto`` load of a session not seen before reads first."""
TAIL_MARGIN = 16
"""Messages read beyond what the previous ``auto`` load of a session needed: room for the turns since."""
MAX_TAIL_HINTS = 4096
"""Sessions per store whose ``auto`` tail length is remembered (least recently loaded forgotten first)."""

_tail_hints: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[str, str], int]] = weakref.WeakKeyDictionary()
"""Per store, how many messages the last ``auto`` load of (agent, session) needed to cover its budget.

Only a starting guess for the next load: a wrong one costs a second read, never a wrong
history. Without it, a session long enough to fill the budget is read twice per
request (the first 64 messages, then enough). Keyed weakly by the store, so a closed
store's hints go with it and a new store never inherits another's.
"""


def _hints_of(store: SessionStore) -> OrderedDict[tuple[str, str], int] | None:
    try:
        return _tail_hints.setdefault(store, OrderedDict())
    except TypeError:  # a store that cannot be weakly referenced (or hashed) reads without hints
        return None


@dataclass(slots=True)
class StoredSession(Session):
    """A :class:`Session` loaded from a store: remembers where it came from and what is saved."""

    agent: str = "agent"
    """The agent the session belongs to (sessions are scoped per agent)."""
    version: str | None = None
    """The store version the next append expects; ``None`` for a session not stored yet."""
    saved: int = 0
    """``messages[:saved]`` are in the store; later ones are what the run added."""
    total_messages: int = 0
    """Messages in the stored session, including those not loaded."""
    warnings: list[str] = field(default_factory=list)
    """Problems the store tolerated while loading (e.g. a torn last line)."""
    count_tokens: TokenCounter = field(default_factory=TokenCache, repr=False, compare=False)
    """Counts the tokens of this session's messages: the load's counter, cached per message,
    so the run's truncation counts again only the messages the run added."""
    shared: list[Message] = field(default_factory=list, repr=False, compare=False)
    """Loaded messages that are the store's cached objects (``load_session(..., shared=True)``),
    also handed to other requests: read them, never edit them; :meth:`unshare` first."""

    def __post_init__(self) -> None:
        Session.__post_init__(self)
        validate_agent_name(self.agent)

    def unshare(self) -> dict[int, Message]:
        """Replace the :attr:`shared` messages in ``messages`` with private copies, once.

        Returns the copies by the ``id`` of the message each replaces (empty when nothing
        was shared), for code holding other lists of the same messages. Matched by
        identity, so it holds whatever was appended or removed since the load.
        """
        shared = self.shared
        if not shared:
            return {}
        copies = dict(zip(map(id, shared), copy_messages(shared), strict=True))
        self.shared = []
        # In place: whoever holds ``messages`` (the list itself) sees the copies too.
        self.messages[:] = [copies.get(id(m), m) for m in self.messages]
        return copies

    @property
    def unsaved(self) -> list[Message]:
        """The messages a :func:`save_turn` would append."""
        return self.messages[self.saved :]


async def append_with_retry(
    store: SessionStore,
    agent: str,
    session_id: str,
    messages: Sequence[Message],
    expected_version: str | None,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = 0.002,
    max_delay: float = 0.2,
) -> str:
    """Append one turn; on a version conflict re-read the version and append again.

    The turn then lands after the other writer's, whole; nothing is lost or interleaved.
    Waits between attempts grow exponentially with full jitter (so two writers do not
    collide again in lockstep). Raises the last :class:`SessionConflictError` after
    ``attempts`` tries. Returns the new version.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    version = expected_version
    for attempt in range(attempts):
        try:
            return await store.append(agent, session_id, messages, expected_version=version)
        except SessionConflictError:
            if attempt == attempts - 1:
                raise
        await asyncio.sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
        version = (await store.load(agent, session_id, max_messages=0)).version
    raise AssertionError("unreachable")  # pragma: no cover


async def load_session(
    store: SessionStore,
    agent: str,
    session_id: str | None = None,
    *,
    max_messages: int | None = None,
    truncation: TruncationStrategy | Any = None,
    max_input_tokens: int | None = None,
    count_tokens: TokenCounter = estimate_tokens,
    shared: bool = False,
) -> StoredSession:
    """Load the tail of a session as a :class:`StoredSession` (a new id when ``session_id`` is None).

    How much is read: ``max_messages`` if given (whole turns covering at least that
    many); else what ``truncation`` needs (default ``auto``): ``last_messages`` N reads
    N, ``auto`` reads the newest turns until their estimated tokens reach
    ``max_input_tokens`` (default :data:`DEFAULT_MAX_INPUT_TOKENS`) or the session ends
    (starting from what the previous load of the session needed, so one read usually
    suffices). Truncation itself still happens at the model call (:func:`truncate`),
    with the session's :attr:`~StoredSession.count_tokens`: ``count_tokens`` wrapped
    in a :class:`TokenCache`, so a message is counted once per request.

    ``shared=True``: the store's cached messages are not copied (when the store offers
    ``load_shared``); they are listed in :attr:`StoredSession.shared` and must not be
    edited before :meth:`StoredSession.unshare` (see the module doc).
    """
    session_id = session_id or new_id("sess")
    counter = count_tokens if isinstance(count_tokens, TokenCache) else TokenCache(count_tokens)
    load_shared = getattr(store, "load_shared", None) if shared else None
    load = load_shared or store.load
    if max_messages is None:
        strategy = TruncationStrategy.parse(truncation) if truncation is not None else TruncationStrategy()
        max_messages = strategy.max_messages
    if max_messages is not None:
        history = await load(agent, session_id, max_messages=max_messages)
    else:
        history = await _load_budget(
            store, load, agent, session_id, max_input_tokens or DEFAULT_MAX_INPUT_TOKENS, counter
        )
    messages = history.messages
    return StoredSession(
        id=session_id,
        messages=messages,
        agent=agent,
        version=history.version,
        saved=len(messages),
        total_messages=history.total_messages,
        warnings=list(history.warnings),
        count_tokens=counter,
        # A store without load_shared copied: nothing is shared then.
        shared=list(messages) if load_shared is not None else [],
    )


async def _load_budget(
    store: SessionStore,
    load: Callable[..., Awaitable[History]],
    agent: str,
    session_id: str,
    budget: int,
    counter: TokenCounter,
) -> History:
    """The newest whole turns whose estimated tokens reach ``budget`` (or the whole session)."""
    hints = _hints_of(store)
    key = (agent, session_id)
    want = hints.get(key, AUTO_FIRST_LOAD) if hints is not None else AUTO_FIRST_LOAD
    # A turn the store counted with the default estimate need not be counted again: the
    # messages were just copied from what it counted (or are what it counted, never
    # edited: a shared load), nobody can have edited them yet.
    known = isinstance(counter, TokenCache) and counter.count_tokens is estimate_tokens
    while True:
        history = await load(agent, session_id, max_messages=want)
        loaded = sum(len(turn.messages) for turn in history.turns)
        covering, tokens = _covering(history.turns, budget, counter, known)
        # Fewer than asked for means the store has nothing older (even if it skipped a bad record).
        if covering is not None or loaded < want or history.complete:
            needed = covering or loaded
            break
        # Enough for the budget at the average message size seen, and at least twice as many.
        grown = max(want * 2, math.ceil(loaded * budget / max(tokens, 1) * 1.25))
        want = min(grown, max(history.total_messages, want + 1))
    if hints is not None:
        hints[key] = max(AUTO_FIRST_LOAD, needed + TAIL_MARGIN)
        hints.move_to_end(key)
        if len(hints) > MAX_TAIL_HINTS:
            hints.popitem(last=False)
    return history


def _covering(
    turns: Sequence[Turn], budget: int, counter: TokenCounter, known: bool
) -> tuple[int | None, int]:
    """How many of the newest messages it takes to reach ``budget`` tokens (``None``: all do not), and
    the tokens counted. ``known``: a turn's :attr:`~Turn.tokens`, when the store gave it, are the
    counter's (the count then ends on a turn's first message rather than on the exact one)."""
    tokens = n = 0
    for turn in reversed(turns):
        if known and turn.tokens is not None:
            tokens += turn.tokens
            n += len(turn.messages)
            if tokens >= budget:
                return n, tokens
            continue
        for message in reversed(turn.messages):
            tokens += counter(message)
            n += 1
            if tokens >= budget:
                return n, tokens
    return None, tokens


async def save_turn(
    store: SessionStore, session: StoredSession, *, attempts: int = DEFAULT_ATTEMPTS
) -> str | None:
    """Append the messages added since the load (or the last save) as one turn; returns the version.

    Does nothing when there is nothing new. Requires that earlier messages were not
    removed from ``session.messages`` (truncate copies, never in place).
    """
    if len(session.messages) < session.saved:
        raise ValueError(
            f"session {session.id!r} has {len(session.messages)} messages but {session.saved} were "
            "already saved: messages must only be appended to a stored session"
        )
    new = session.unsaved
    if not new:
        return session.version
    session.version = await append_with_retry(
        store, session.agent, session.id, new, session.version, attempts=attempts
    )
    session.saved = len(session.messages)
    session.total_messages += len(new)
    return session.version


@contextlib.asynccontextmanager
async def open_session(
    store: SessionStore,
    agent: str,
    session_id: str | None = None,
    *,
    max_messages: int | None = None,
    truncation: TruncationStrategy | Any = None,
    max_input_tokens: int | None = None,
    count_tokens: TokenCounter = estimate_tokens,
    shared: bool = False,
) -> AsyncIterator[StoredSession]:
    """``load_session`` on entry, ``save_turn`` on exit (also when the block raises or is cancelled)."""
    session = await load_session(
        store,
        agent,
        session_id,
        max_messages=max_messages,
        truncation=truncation,
        max_input_tokens=max_input_tokens,
        count_tokens=count_tokens,
        shared=shared,
    )
    try:
        yield session
    finally:
        if session.unsaved:
            # Shielded: a second cancellation must not abandon an append already under way.
            await asyncio.shield(save_turn(store, session))
