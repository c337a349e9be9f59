"""The ``SessionStore`` protocol, the types it speaks and the errors it raises.

A store keeps each conversation as a sequence of *turns*: the messages one run
added, appended atomically as one record. Reading by turns means a tool call and
its result (which a run always appends together) are never split by a bounded load.

Concurrency is optimistic. :meth:`SessionStore.load` returns a ``version`` (an
opaque token: a turn count, an ETag...); :meth:`SessionStore.append` takes it back
and raises :class:`SessionConflictError` when another writer appended in between.
:func:`agentdown.sessions.append_with_retry` does the retry a runner needs.

A store may also offer :meth:`SharedLoads.load_shared`: a load whose messages are the
store's own cached objects rather than copies (the built-in stores with a turn cache
do). Only code that never edits what it loaded may use it: the runner does, through
``load_session(..., shared=True)``.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from agentdown.exceptions import AgentdownError
from agentdown.messages import Message
from agentdown.sessions.session import SESSION_ID_PATTERN, validate_session_id

__all__ = [
    "AGENT_NAME_PATTERN",
    "History",
    "SessionConflictError",
    "SessionInfo",
    "SessionStore",
    "SessionStoreError",
    "SharedLoads",
    "Turn",
    "check_keys",
    "check_max_messages",
    "cutoff_time",
    "validate_agent_name",
]

AGENT_NAME_PATTERN = SESSION_ID_PATTERN
"""Agent names scope sessions and become path segments, so they follow the session-id rules."""

_ONLY_DOTS = re.compile(r"^\.+$")


class SessionStoreError(AgentdownError):
    """A session store could not read or write a session (I/O, service or format error)."""


class SessionConflictError(SessionStoreError):
    """An append carried a stale version: another writer appended (or deleted) first.

    Nothing was written. Re-read the version and append again, which is what
    :func:`agentdown.sessions.append_with_retry` does.
    """

    def __init__(self, agent: str, session_id: str, expected: str | None, detail: str = "") -> None:
        self.agent = agent
        self.session_id = session_id
        self.expected = expected
        what = "a new session" if expected is None else f"version {expected!r}"
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            f"session {session_id!r} of agent {agent!r} changed since it was loaded: "
            f"the append expected {what}{suffix}"
        )


def validate_agent_name(agent: str) -> str:
    """Return ``agent`` or raise ``ValueError`` saying what an agent name used for sessions may contain."""
    if not isinstance(agent, str) or not AGENT_NAME_PATTERN.match(agent) or _ONLY_DOTS.match(agent):
        raise ValueError(
            f"invalid agent name {agent!r} for sessions: expected 1-128 characters from "
            "A-Z a-z 0-9 . _ - (not only dots); use the agent's slug"
        )
    return agent


def check_keys(agent: str, session_id: str) -> None:
    """Validate both parts of a session key before any I/O."""
    validate_agent_name(agent)
    validate_session_id(session_id)


def check_max_messages(max_messages: int | None) -> None:
    if max_messages is not None and (
        isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 0
    ):
        raise ValueError(f"max_messages must be None or an integer >= 0, got {max_messages!r}")


def cutoff_time(older_than: timedelta | float) -> float:
    """Unix time before which a session counts as expired; ``older_than`` in seconds or a timedelta."""
    seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
    if seconds < 0:
        raise ValueError(f"older_than must be >= 0 seconds, got {seconds}")
    return time.time() - seconds


@dataclass(frozen=True, slots=True)
class Turn:
    """The messages one run appended, as one atomic record."""

    seq: int
    """1 for a session's first turn, then +1 per append."""
    messages: list[Message]
    created_at: float
    """Unix seconds when the turn was appended."""
    tokens: int | None = field(default=None, compare=False)
    """:func:`~agentdown.sessions.truncation.estimate_tokens` of ``messages`` as loaded, when the
    store kept it (its turn cache counts a turn once); ``None`` when not known."""


@dataclass(slots=True)
class History:
    """What :meth:`SessionStore.load` returns: the newest whole turns and the version to append at."""

    turns: list[Turn]
    """Oldest first; covers at least the requested number of messages (or all of them)."""
    version: str | None
    """Pass back to :meth:`SessionStore.append`; ``None`` when the session does not exist."""
    total_turns: int = 0
    """Turns in the whole session (not only the loaded tail)."""
    total_messages: int = 0
    """Messages in the whole session (not only the loaded tail)."""
    warnings: list[str] = field(default_factory=list)
    """Problems tolerated while reading (e.g. a torn last line), also logged."""

    @property
    def messages(self) -> list[Message]:
        """The loaded turns' messages, oldest first."""
        return [m for t in self.turns for m in t.messages]

    @property
    def complete(self) -> bool:
        """True when the whole session was loaded."""
        return len(self.turns) >= self.total_turns

    @property
    def exists(self) -> bool:
        return self.version is not None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One line of :meth:`SessionStore.list`. Counts a store cannot give cheaply are ``None``."""

    agent: str
    session_id: str
    updated_at: float
    """Unix seconds of the last append; sessions expire by this."""
    created_at: float | None = None
    turns: int | None = None
    messages: int | None = None
    size_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "session_id": self.session_id,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            "turns": self.turns,
            "messages": self.messages,
            "size_bytes": self.size_bytes,
        }


@runtime_checkable
class SessionStore(Protocol):
    """Durable, concurrency-safe storage of conversation sessions, scoped per agent.

    Every method validates ``agent`` (:func:`validate_agent_name`) and ``session_id``
    (:func:`agentdown.sessions.validate_session_id`) and raises ``ValueError`` first.
    """

    kind: str
    """``"sqlite"``, ``"jsonl"`` or ``"azure_blob"``."""

    async def load(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        """The newest whole turns holding at least ``max_messages`` messages (all when fewer exist).

        ``max_messages=None`` loads everything; ``0`` loads no turns, only the version and
        counts. The cost depends on the size of the tail read, not of the session.
        """
        ...

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], *, expected_version: str | None
    ) -> str:
        """Append one turn atomically if the session is still at ``expected_version``.

        ``expected_version=None`` means the session must not exist yet. Returns the new
        version. Raises :class:`SessionConflictError` (nothing written) on a mismatch.
        """
        ...

    async def list(self, agent: str | None = None) -> builtins.list[SessionInfo]:
        """Sessions of ``agent`` (or of every agent), most recently updated first."""
        ...

    async def delete(self, agent: str, session_id: str) -> bool:
        """Delete a session; ``False`` when it did not exist."""
        ...

    async def expire(
        self, older_than: timedelta | float, *, agent: str | None = None
    ) -> builtins.list[SessionInfo]:
        """Delete sessions not appended to for ``older_than`` (seconds); returns what was deleted.

        A session appended to while it is being expired is kept.
        """
        ...

    async def aclose(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...


@runtime_checkable
class SharedLoads(Protocol):
    """A store that can load without copying the turns it keeps decoded (optional; see the module doc)."""

    async def load_shared(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        """:meth:`SessionStore.load`, but the turns (their message lists, the messages, their
        contents and metadata) may be objects the store keeps and hands to every such load:
        the caller must never edit them. The :class:`History` itself and its
        :attr:`~History.messages` list are the caller's."""
        ...
