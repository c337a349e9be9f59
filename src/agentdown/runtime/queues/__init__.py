"""Queues with at-least-once delivery: embedded SQLite (default) and Azure Storage queues."""

from agentdown.runtime.queues.base import (
    MessageQueue,
    QueueError,
    QueueMessage,
    QueueMessageLostError,
    QueueService,
    StorageError,
    decode_wire_text,
    move_to_poison,
    poison_queue_name,
    validate_queue_name,
)
from agentdown.runtime.queues.config import (
    DEFAULT_CONNECTION,
    StorageAccount,
    open_queue_service,
    resolve_account,
)
from agentdown.runtime.queues.sqlite import SqliteQueue, SqliteQueueService

__all__ = [
    "DEFAULT_CONNECTION",
    "MessageQueue",
    "QueueError",
    "QueueMessage",
    "QueueMessageLostError",
    "QueueService",
    "SqliteQueue",
    "SqliteQueueService",
    "StorageAccount",
    "StorageError",
    "decode_wire_text",
    "move_to_poison",
    "open_queue_service",
    "poison_queue_name",
    "resolve_account",
    "validate_queue_name",
]
