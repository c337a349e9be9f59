"""Trigger data for the prompt: what the Functions host binds, as JSON-safe mappings.

The shapes are the Azure Functions agents runtime's (``contracts/functions-runtime-b17.md``)
and the same as agentdown's own trigger host gives: a queue message through
:meth:`agentdown.runtime.queues.base.QueueMessage.binding_data`; a blob as name, uri,
length, ``blob_properties`` and metadata (never its content); a timer as ``past_due``,
``schedule_status``, ``schedule``; Service Bus, Event Hubs and Kafka as ``body`` (+
``body_encoding``) and the message's metadata; Event Grid as its envelope and ``data``;
Cosmos DB and SQL changes as a list of documents / rows.
"""

from __future__ import annotations

import base64
from collections import UserList
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentdown.runtime.queues.base import QueueMessage

__all__ = ["queue_message", "trigger_data"]

_SERVICE_BUS = (
    "message_id", "correlation_id", "content_type", "subject", "session_id", "partition_key", "reply_to",
    "to", "delivery_count", "enqueued_time_utc", "expires_at_utc", "sequence_number",
    "application_properties", "user_properties", "metadata",
)  # fmt: skip
_EVENT_HUB = ("partition_key", "sequence_number", "offset", "enqueued_time", "iothub_metadata", "metadata")
_KAFKA = ("key", "topic", "partition", "offset", "timestamp", "headers", "metadata")
_EVENT_GRID = ("id", "topic", "subject", "event_type", "event_time", "data_version")


def _plain(value: Any) -> Any:
    """A JSON-safe copy: datetimes as ISO text, bytes as text or base64, mappings and lists walked."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        text, encoding = _text(bytes(value))
        return {"data": text, "data_encoding": encoding}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | UserList):
        return [_plain(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _plain(to_dict())
    return str(value)


def _text(body: bytes) -> tuple[str, str]:
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def _fields(obj: Any, names: tuple[str, ...], into: dict[str, Any]) -> dict[str, Any]:
    for name in names:
        try:
            value = getattr(obj, name)
        except Exception:  # some binding properties raise when the host did not send them
            continue
        if value is not None and not callable(value):
            into[name] = _plain(value)
    return into


def _body(obj: Any) -> dict[str, Any]:
    body = obj.get_body()
    if isinstance(body, str):
        return {"body": body, "body_encoding": "utf-8"}
    text, encoding = _text(bytes(body or b""))
    return {"body": text, "body_encoding": encoding}


def queue_message(message: Any) -> QueueMessage:
    """The host's ``func.QueueMessage`` as agentdown's delivery (its id and pop receipt included)."""
    from agentdown.runtime.queues.base import QueueMessage

    return QueueMessage(
        id=message.id or "",
        body=message.get_body() or b"",
        pop_receipt=message.pop_receipt or "",
        dequeue_count=message.dequeue_count or 1,
        insertion_time=message.insertion_time or datetime.now(UTC),
        expiration_time=message.expiration_time,
        time_next_visible=message.time_next_visible,
    )


def _queue(message: Any) -> dict[str, Any]:
    return queue_message(message).binding_data()


def _blob(stream: Any) -> dict[str, Any]:
    return _fields(stream, ("name", "uri", "length", "blob_properties", "metadata"), {})


def _timer(timer: Any) -> dict[str, Any]:
    return _fields(timer, ("past_due", "schedule_status", "schedule"), {})


def _event_grid(event: Any) -> dict[str, Any]:
    data = _fields(event, _EVENT_GRID, {})
    data["data"] = _plain(event.get_json())
    return data


def trigger_data(binding: Any) -> Any:
    """The JSON-safe trigger data of whatever the host bound (see the module docstring)."""
    import azure.functions as func

    if isinstance(binding, func.QueueMessage):
        return _queue(binding)
    if isinstance(binding, func.InputStream):
        return _blob(binding)
    if isinstance(binding, func.TimerRequest):
        return _timer(binding)
    if isinstance(binding, func.EventGridEvent):
        return _event_grid(binding)
    if isinstance(binding, func.ServiceBusMessage):
        return _fields(binding, _SERVICE_BUS, _body(binding))
    if isinstance(binding, func.EventHubEvent):
        return _fields(binding, _EVENT_HUB, _body(binding))
    if isinstance(binding, func.KafkaEvent):
        return _fields(binding, _KAFKA, _body(binding))
    if isinstance(binding, str):
        return binding
    return _plain(binding)
