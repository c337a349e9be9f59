"""Azure Storage queues (and Azurite) behind the :class:`MessageQueue` contract.

Message text on the wire is base64 by default, which is what Azure Functions writes
and expects (``encoding="none"`` writes raw text, for consumers configured with
``messageEncoding: none``). Receiving accepts both: see :func:`decode_wire_text`.
"""

from __future__ import annotations

import base64
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from agentdown.runtime.queues.base import (
    QueueError,
    QueueMessage,
    QueueMessageLostError,
    decode_wire_text,
    validate_queue_name,
)
from agentdown.runtime.queues.config import StorageAccount

__all__ = ["AzureQueue", "AzureQueueService"]

T = TypeVar("T")
_LOST_CODES = ("MessageNotFound", "PopReceiptMismatch")
_MAX_BATCH = 32
"""Azure returns at most 32 messages per receive."""


class AzureQueueService:
    """The queues of one Azure Storage account; closes what it opened in :meth:`aclose`."""

    kind = "azure"

    def __init__(self, account: StorageAccount, *, encoding: Literal["base64", "none"] = "base64") -> None:
        self.account = account
        self.encoding = encoding
        """How message text is written: ``base64`` (Azure Functions' default) or ``none`` (raw)."""
        self._credential: Any = None
        if account.connection_string is not None:
            try:
                self._client = QueueServiceClient.from_connection_string(account.connection_string)
            except ValueError as exc:
                raise QueueError(f"{account.source}: not a usable storage connection string: {exc}") from exc
        else:
            from azure.identity.aio import DefaultAzureCredential

            self._credential = DefaultAzureCredential(managed_identity_client_id=account.client_id)
            self._client = QueueServiceClient(account.require_queue_url(), credential=self._credential)

    def __repr__(self) -> str:
        return f"AzureQueueService({self.account.describe()!r})"

    def describe(self) -> str:
        return self.account.describe()

    def queue(self, name: str) -> AzureQueue:
        client = self._client.get_queue_client(validate_queue_name(name))
        return AzureQueue(client, name, self.encoding)

    async def aclose(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()


class AzureQueue:
    """One Azure Storage queue."""

    def __init__(self, client: QueueClient, name: str, encoding: Literal["base64", "none"]) -> None:
        self._client = client
        self._name = name
        self._encoding = encoding

    def __repr__(self) -> str:
        return f"AzureQueue({self._name!r})"

    @property
    def name(self) -> str:
        return self._name

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except AzureError as exc:
            raise QueueError(f"queue {self._name!r}: {what} failed: {_short(exc)}") from exc

    async def create(self) -> None:
        async def create() -> None:
            with contextlib.suppress(ResourceExistsError):
                await self._client.create_queue()

        await self._call("create", create)

    async def send(
        self, body: str | bytes, *, visibility_delay: float = 0.0, time_to_live: float | None = None
    ) -> str:
        payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if self._encoding == "base64":
            content = base64.b64encode(payload).decode("ascii")
        else:
            try:
                content = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise QueueError(
                    f"queue {self._name!r}: a binary message needs base64 encoding "
                    "(AGENTDOWN_QUEUE_MESSAGE_ENCODING=base64)"
                ) from exc
        ttl = None if time_to_live is None else (-1 if time_to_live < 0 else max(1, math.ceil(time_to_live)))
        sent = await self._call(
            "send",
            lambda: self._client.send_message(
                content, visibility_timeout=math.ceil(visibility_delay) or None, time_to_live=ttl
            ),
        )
        return str(sent.id)

    async def receive(self, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        count = min(max_messages, _MAX_BATCH)
        if count < 1:
            return []
        # Azure hides a received message for at least one second.
        timeout = max(1, math.ceil(visibility_timeout))

        async def receive() -> list[QueueMessage]:
            pages = self._client.receive_messages(
                messages_per_page=count, visibility_timeout=timeout, max_messages=count
            )
            return [_message(item) async for item in pages]

        return await self._call("receive", receive)

    async def delete(self, message: QueueMessage) -> None:
        try:
            await self._client.delete_message(message.id, message.pop_receipt)
        except (ResourceNotFoundError, HttpResponseError) as exc:
            raise self._translate(message, "delete", exc) from exc
        except AzureError as exc:
            raise QueueError(f"queue {self._name!r}: delete failed: {_short(exc)}") from exc

    async def update_visibility(self, message: QueueMessage, visibility_timeout: float) -> QueueMessage:
        try:
            updated = await self._client.update_message(
                message.id, message.pop_receipt, visibility_timeout=max(0, math.ceil(visibility_timeout))
            )
        except (ResourceNotFoundError, HttpResponseError) as exc:
            raise self._translate(message, "update", exc) from exc
        except AzureError as exc:
            raise QueueError(f"queue {self._name!r}: update failed: {_short(exc)}") from exc
        return QueueMessage(
            id=message.id,
            body=message.body,
            pop_receipt=str(updated.pop_receipt),
            dequeue_count=message.dequeue_count,
            insertion_time=message.insertion_time,
            expiration_time=message.expiration_time,
            time_next_visible=updated.next_visible_on,
        )

    async def approximate_count(self) -> int:
        properties = await self._call("get properties", self._client.get_queue_properties)
        return int(properties.approximate_message_count or 0)

    def _translate(self, message: QueueMessage, what: str, exc: HttpResponseError) -> QueueError:
        if isinstance(exc, ResourceNotFoundError) or getattr(exc, "error_code", None) in _LOST_CODES:
            return QueueMessageLostError(
                f"queue {self._name!r}: message {message.id} was deleted or received again "
                "after its visibility timeout expired"
            )
        return QueueError(f"queue {self._name!r}: {what} failed: {_short(exc)}")


def _message(item: Any) -> QueueMessage:
    return QueueMessage(
        id=str(item.id),
        body=decode_wire_text(str(item.content or "")),
        pop_receipt=str(item.pop_receipt),
        dequeue_count=int(item.dequeue_count or 1),
        insertion_time=item.inserted_on,
        expiration_time=item.expires_on,
        time_next_visible=item.next_visible_on,
    )


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
