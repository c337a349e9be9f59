"""Queue clients and reply routers shared by every queue tool of a process, per event loop.

Two tools on one account share its client; two tools (or runs, or Agents API calls)
with one output queue share its :class:`~.router.ReplyRouter`. Keyed by event loop,
since clients are bound to the loop that opened them.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Literal

from agentdown.runtime.queue_tools.router import ReplyRouter
from agentdown.runtime.queues.base import MessageQueue, QueueService, poison_queue_name
from agentdown.runtime.queues.config import StorageAccount, open_queue_service

__all__ = ["account_key", "aclose_idle", "aclose_shared", "queue_of", "router_of"]

Encoding = Literal["base64", "none"]


class _Shared:
    def __init__(self) -> None:
        self.services: dict[tuple[Any, ...], QueueService] = {}
        self.routers: dict[tuple[Any, ...], ReplyRouter] = {}
        self.created: set[tuple[Any, ...]] = set()


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shared] = weakref.WeakKeyDictionary()


def _shared() -> _Shared:
    return _per_loop.setdefault(asyncio.get_running_loop(), _Shared())


def account_key(account: StorageAccount) -> tuple[Any, ...]:
    return (
        account.kind,
        account.data_dir,
        account.connection_string,
        account.queue_url,
        account.client_id,
    )


def _service(account: StorageAccount, encoding: Encoding) -> QueueService:
    shared = _shared()
    key = (*account_key(account), encoding)
    if key not in shared.services:
        shared.services[key] = open_queue_service(account, encoding=encoding)
    return shared.services[key]


async def queue_of(account: StorageAccount, name: str, encoding: Encoding) -> MessageQueue:
    """The queue ``name`` of ``account`` writing ``encoding``; created on first use in this loop."""
    queue = _service(account, encoding).queue(name)
    key = (*account_key(account), name)
    shared = _shared()
    if key not in shared.created:
        await queue.create()
        shared.created.add(key)
    return queue


async def router_of(account: StorageAccount, output_queue: str, max_poll: float = 1.0) -> ReplyRouter:
    """The reply router of ``output_queue`` on ``account`` for this process (created on first use)."""
    shared = _shared()
    key = (*account_key(account), output_queue)
    router = shared.routers.get(key)
    if router is None:
        queue = await queue_of(account, output_queue, "base64")
        poison = await queue_of(account, poison_queue_name(output_queue), "base64")
        router = shared.routers.setdefault(key, ReplyRouter(queue, poison, max_poll=max_poll))
    return router


async def aclose_shared() -> None:
    """Close this loop's routers and queue clients (calls still waiting are cancelled)."""
    shared = _per_loop.pop(asyncio.get_running_loop(), None)
    if shared is None:
        return
    for router in shared.routers.values():
        await router.aclose()
    for service in shared.services.values():
        await service.aclose()


async def aclose_idle() -> None:
    """:func:`aclose_shared` unless some call of this loop still waits (then its readers stay)."""
    shared = _per_loop.get(asyncio.get_running_loop())
    if shared is not None and not any(router.waiting for router in shared.routers.values()):
        await aclose_shared()
