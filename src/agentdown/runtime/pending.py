"""Paused turns kept in the session, and who a session belongs to.

A run that stops for approvals or tool outputs is not lost: the runner appends the
turn so far (the prompt and the assistant message with the pending calls) as an
ordinary turn, with the signed run state in the metadata of its last message. The
session's newest message then *is* the pending marker; nothing else is stored, so
every session store keeps paused turns with no change, and the marker is gone as
soon as the continuation (tool results and answer) is appended after it.

A pending turn that nobody answers expires (default 24 h): it is closed with a tool
result per call saying it was not run, so the history stays well-formed and the
model later reads what happened. Discarding does the same on request.

Sessions are bound to a caller when one is known (an authenticated principal): the
first message of every turn carries a digest of the principal, and a session whose
newest stamp differs (or that has none) is, to anyone else, a session that does
not exist.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentdown.exceptions import AgentdownError
from agentdown.messages import Content, Message
from agentdown.models.env import positive_seconds

__all__ = [
    "DEFAULT_PENDING_TTL",
    "NothingPendingError",
    "PendingCall",
    "PendingExpiredError",
    "PendingTurn",
    "SessionNotFoundError",
    "TurnPendingError",
    "closing_message",
    "mark_pending",
    "owner_digest",
    "pending_ttl_from_env",
    "pending_turn",
    "session_owner",
    "stamp_owner",
]

PENDING_KEY = "agentdown.pending"
OWNER_KEY = "agentdown.owner"
NOTE_KEY = "agentdown.note"
DEFAULT_PENDING_TTL = 24 * 3600.0

CallKind = Literal["approval", "output"]


@dataclass(frozen=True, slots=True)
class PendingCall:
    """One call that waits for the caller."""

    call_id: str
    tool: str
    arguments: dict[str, Any] | None
    kind: CallKind
    """``"approval"``: answer true/false; ``"output"``: give the tool's result (declaration-only tool)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool_call_id": self.call_id,
            "tool_name": self.tool,
            "arguments": self.arguments,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class PendingTurn:
    """The paused turn at the end of a session."""

    calls: list[PendingCall]
    state: dict[str, Any]
    """The signed run state to resume from."""
    created_at: float
    expires_at: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    @property
    def run_messages(self) -> int:
        """How many of the session's newest messages belong to the paused run."""
        return len(self.state.get("messages") or ())

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": [c.to_dict() for c in self.calls],
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


class TurnPendingError(AgentdownError):
    """A new prompt arrived while the session's last turn waits for decisions; nothing ran.

    Answer the pending calls (approvals / tool outputs) or discard the turn first.
    """

    def __init__(self, session_id: str, pending: PendingTurn) -> None:
        self.session_id = session_id
        self.pending = pending
        names = ", ".join(f"{c.tool} ({c.call_id})" for c in pending.calls)
        super().__init__(
            f"session {session_id!r} has a turn waiting for decisions on {names}; answer them with "
            '"approvals" / "tool_outputs", or discard the turn with {"discard": true}'
        )


class NothingPendingError(AgentdownError):
    """Decisions (or a discard) arrived for a session whose last turn is not waiting for any."""


class PendingExpiredError(AgentdownError):
    """The pending turn had expired; it was closed (its calls marked as not run) instead of resumed."""


class SessionNotFoundError(AgentdownError, KeyError):
    """No session with this id exists for this caller (it may exist for another one)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "session not found"


def calls_of(state: dict[str, Any]) -> list[PendingCall]:
    messages = state.get("messages") or []
    if not messages:
        return []
    approvals = set(state.get("approval_ids") or ())
    outputs = set(state.get("declaration_ids") or ())
    last = Message.from_dict(messages[-1])
    found: list[PendingCall] = []
    for call in last.tool_calls:
        cid = call.call_id or ""
        if cid in approvals or cid in outputs:
            kind: CallKind = "approval" if cid in approvals else "output"
            found.append(PendingCall(cid, call.name or "", call.arguments, kind))
    return found


def pending_ttl_from_env(environ: Mapping[str, str]) -> float:
    """``AGENTDOWN_PENDING_TTL`` (seconds a paused turn waits for decisions), default 24 h."""
    return positive_seconds(environ, "AGENTDOWN_PENDING_TTL", DEFAULT_PENDING_TTL)


def mark_pending(message: Message, state: dict[str, Any], ttl: float) -> None:
    now = time.time()
    message.metadata[PENDING_KEY] = {"state": state, "created_at": now, "expires_at": now + ttl}


def pending_turn(messages: Sequence[Message]) -> PendingTurn | None:
    """The paused turn the session ends with, if it ends with one."""
    if not messages:
        return None
    marker = messages[-1].metadata.get(PENDING_KEY)
    if not isinstance(marker, dict) or not isinstance(marker.get("state"), dict):
        return None
    state = marker["state"]
    return PendingTurn(
        calls=calls_of(state),
        state=state,
        created_at=float(marker.get("created_at") or 0.0),
        expires_at=float(marker.get("expires_at") or 0.0),
    )


def closing_message(pending: PendingTurn, reason: Literal["expired", "discarded"]) -> Message:
    """Tool results that close every call of the pending message (run or not), with a note."""
    text = (
        "Not run: the request for approval expired before anyone answered it."
        if reason == "expired"
        else "Not run: the user discarded this turn before deciding."
    )
    last = Message.from_dict(pending.state["messages"][-1])
    results = [
        Content.from_tool_result(c.call_id or "", text, name=c.name, is_error=True) for c in last.tool_calls
    ]
    message = Message(role="tool", contents=results)
    message.metadata[NOTE_KEY] = f"pending_{reason}"
    return message


def owner_digest(principal: str | None) -> str | None:
    """What is stored for a principal: a digest, so session files hold no user ids."""
    if principal is None:
        return None
    return hashlib.sha256(principal.encode()).hexdigest()[:32]


def session_owner(messages: Sequence[Message]) -> str | None:
    """The owner digest of the newest turn that has one (``None``: no owner recorded)."""
    for message in reversed(messages):
        owner = message.metadata.get(OWNER_KEY)
        if isinstance(owner, str):
            return owner
    return None


def stamp_owner(messages: Sequence[Message], owner: str | None) -> None:
    if owner is not None and messages:
        messages[0].metadata[OWNER_KEY] = owner
