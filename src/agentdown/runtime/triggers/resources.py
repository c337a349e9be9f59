"""Storage clients shared by a host's listeners: one per storage account (and container), closed together."""

from __future__ import annotations

from typing import Any

from agentdown.runtime.queues.base import QueueService
from agentdown.runtime.queues.config import StorageAccount, open_queue_service
from agentdown.runtime.triggers.bindings import OutputBinding
from agentdown.runtime.triggers.blobstore import BlobContainer, open_blob_container
from agentdown.runtime.triggers.invoke import OutputSink, logger
from agentdown.runtime.triggers.settings import TriggerSettings
from agentdown.runtime.triggers.state import StateStore, open_state_store

__all__ = ["Resources"]


class Resources:
    """Clients shared by the listeners, one per storage account (and container); closed together."""

    def __init__(self, settings: TriggerSettings) -> None:
        self.settings = settings
        self._queues: dict[tuple[Any, ...], QueueService] = {}
        self._states: dict[tuple[Any, ...], StateStore] = {}
        self._containers: dict[tuple[Any, ...], BlobContainer] = {}

    def queues(self, account: StorageAccount) -> QueueService:
        key = _identity(account)
        if key not in self._queues:
            self._queues[key] = open_queue_service(account, encoding=self.settings.message_encoding)
        return self._queues[key]

    def state(self, account: StorageAccount) -> StateStore:
        key = _identity(account)
        if key not in self._states:
            self._states[key] = open_state_store(account, self.settings.hosts_container)
        return self._states[key]

    def container(self, account: StorageAccount, name: str) -> BlobContainer:
        key = (*_identity(account), name)
        if key not in self._containers:
            self._containers[key] = open_blob_container(account, name)
        return self._containers[key]

    def output_sink(self, output: OutputBinding, account: StorageAccount) -> OutputSink:
        """Where an agent's answers go (its ``output`` binding), on these shared clients."""
        if output.type == "queue_output":
            assert output.queue_name is not None
            return OutputSink(output, queue=self.queues(account).queue(output.queue_name))
        return OutputSink(output, container=self.container(account, output.container))

    async def aclose(self) -> None:
        closables: list[Any] = [*self._containers.values(), *self._states.values(), *self._queues.values()]
        for closable in closables:
            try:
                await closable.aclose()
            except Exception:
                logger.exception("closing %r failed", closable)
        self._containers.clear()
        self._states.clear()
        self._queues.clear()


def _identity(account: StorageAccount) -> tuple[Any, ...]:
    return (
        account.kind,
        account.data_dir,
        account.blobs_dir,
        account.connection_string,
        account.queue_url,
        account.blob_url,
        account.client_id,
    )
