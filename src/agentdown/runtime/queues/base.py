"""The queue contract every backend meets: at-least-once delivery with visibility timeouts.

A received message is hidden from other consumers until its visibility timeout
passes; the consumer deletes it when done, or it reappears (with its dequeue count
one higher) for another consumer. That is all the scale-out story needs: a worker
that dies mid-message simply never deletes it. The semantics and names follow Azure
Storage queues, so the embedded SQLite backend and Azure behave alike.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from agentdown.app.bindings import validate_queue_name
from agentdown.exceptions import AgentdownError

__all__ = [
    "DEFAULT_TIME_TO_LIVE",
    "MAX_QUEUE_NAME",
    "MessageQueue",
    "QueueError",
    "QueueMessage",
    "QueueMessageLostError",
    "QueueService",
    "StorageError",
    "decode_wire_text",
    "move_to_poison",
    "poison_queue_name",
    "validate_queue_name",
]

DEFAULT_TIME_TO_LIVE = 7 * 24 * 3600.0
"""Seconds a message lives unread, as in Azure Storage (7 days)."""
MAX_QUEUE_NAME = 63
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class StorageError(AgentdownError):
    """A storage operation of the triggers failed: a queue, a blob container or trigger state."""


class QueueError(StorageError):
    """A queue operation failed (the message names the queue and the backend)."""


class QueueMessageLostError(QueueError):
    """The message is no longer ours: deleted, or received again after its visibility timeout."""


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One delivery of a message; ``pop_receipt`` proves this delivery is the current one."""

    id: str
    """Stable across deliveries."""
    body: bytes
    """The payload (base64 on the wire already decoded, see :func:`decode_wire_text`)."""
    pop_receipt: str
    """Changes with every receive and visibility update; delete and update need the latest."""
    dequeue_count: int
    """Deliveries so far, this one included."""
    insertion_time: datetime
    expiration_time: datetime | None
    time_next_visible: datetime | None

    @property
    def text(self) -> str | None:
        """The body as UTF-8 text, ``None`` when it is binary."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def binding_data(self) -> dict[str, Any]:
        """The trigger data of a queue-triggered run, shaped like the Azure Functions agents runtime's."""
        text = self.text
        data: dict[str, Any] = {
            "body": text if text is not None else base64.b64encode(self.body).decode("ascii"),
            "body_encoding": "utf-8" if text is not None else "base64",
            "id": self.id,
            "dequeue_count": self.dequeue_count,
            "insertion_time": self.insertion_time.isoformat(),
        }
        if self.expiration_time is not None:
            data["expiration_time"] = self.expiration_time.isoformat()
        if self.time_next_visible is not None:
            data["time_next_visible"] = self.time_next_visible.isoformat()
        data["pop_receipt"] = self.pop_receipt
        if text is not None:
            with contextlib.suppress(ValueError):
                data["body_json"] = json.loads(text)
        return data


@runtime_checkable
class MessageQueue(Protocol):
    """One named queue of a :class:`QueueService`."""

    @property
    def name(self) -> str: ...

    async def create(self) -> None:
        """Create the queue if it does not exist yet."""

    async def send(
        self, body: str | bytes, *, visibility_delay: float = 0.0, time_to_live: float | None = None
    ) -> str:
        """Add a message; its id. ``time_to_live`` ``None``: 7 days; ``-1``: forever."""
        ...

    async def receive(self, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        """Up to ``max_messages`` visible messages, each hidden for ``visibility_timeout`` seconds."""
        ...

    async def delete(self, message: QueueMessage) -> None:
        """Remove a message for good (:class:`QueueMessageLostError` if this delivery is stale)."""

    async def update_visibility(self, message: QueueMessage, visibility_timeout: float) -> QueueMessage:
        """Hide the message for ``visibility_timeout`` more seconds (``0``: visible now); the new delivery."""
        ...

    async def approximate_count(self) -> int:
        """Messages in the queue, visible or not."""
        ...


@runtime_checkable
class QueueService(Protocol):
    """The queues of one storage account (a SQLite file, or an Azure Storage account)."""

    kind: str
    """``embedded`` or ``azure``."""

    def queue(self, name: str) -> MessageQueue: ...

    def describe(self) -> str:
        """Where the queues live, for logs (never a secret)."""
        ...

    async def aclose(self) -> None: ...


def poison_queue_name(name: str) -> str:
    """Where messages that keep failing go: ``<queue>-poison``, as in Azure Functions."""
    poison = f"{name}-poison"
    if len(poison) > MAX_QUEUE_NAME:
        raise ValueError(
            f"queue name {name!r} is too long to have a poison queue ({poison!r} exceeds "
            f"{MAX_QUEUE_NAME} characters); use a name of at most {MAX_QUEUE_NAME - 7} characters"
        )
    return poison


async def move_to_poison(queue: MessageQueue, poison: MessageQueue, message: QueueMessage) -> str:
    """Copy ``message``'s original body to ``poison``, then delete it from ``queue``; the copy's id.

    The copy comes first: a crash in between leaves the message in both queues (it will
    be poisoned again, a duplicate) rather than in neither.
    """
    copy_id = await poison.send(message.body, time_to_live=-1)
    await queue.delete(message)
    return copy_id


def decode_wire_text(content: str) -> bytes:
    """The payload of a message whose text may be base64 or raw.

    Azure Functions writes base64 by default; other producers (the Agent Service,
    scripts) often write raw text. Text that is valid base64 *and* decodes to printable
    UTF-8 is taken as base64; anything else is the payload itself. Ordinary words rarely
    pass both tests (``"test"`` decodes to invalid UTF-8), so the guess is safe in
    practice; a raw payload that is itself base64 text of printable UTF-8 is ambiguous
    by nature.
    """
    stripped = content.strip()
    if stripped and len(stripped) % 4 == 0 and _BASE64.match(stripped):
        try:
            raw = base64.b64decode(stripped, validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return content.encode("utf-8")
        if not _CONTROL.search(decoded):
            return raw
    return content.encode("utf-8")
