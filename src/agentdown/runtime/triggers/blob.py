"""``blob_trigger``: one run per new or changed blob, once, across restarts and workers.

Each scan lists the container; a blob (name and ETag) without a receipt is claimed
by creating its receipt, which only one worker can do. The claim is a lease: the
owner renews it while the run lasts, and a claim whose lease ran out (its worker
died) may be taken over. Success marks the receipt ``done`` for good; a failure is
retried at the next scan until ``max_dequeue_count`` attempts, then the receipt says
``poisoned`` and a message describing the blob goes to ``webjobs-blobtrigger-poison``
(the queue Azure Functions uses). A changed blob has a new ETag, hence a new receipt.

Receipts of blobs that no longer exist (deleted, or changed: the old ETag is gone)
are pruned at the first scan and then every :attr:`BlobListener.prune_interval`
seconds, so the receipts stay the size of the container. The receipts are listed
before the container: a receipt whose blob the later listing lacks belongs to a blob
gone since, never to one created after the listing. A claim still held (its lease
running) is left to its owner, and a receipt that changed since it was read is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from agentdown.runtime.queues.base import MessageQueue, StorageError
from agentdown.runtime.triggers.bindings import PathPattern
from agentdown.runtime.triggers.blobstore import BlobContainer, BlobItem
from agentdown.runtime.triggers.invoke import Invoker, TriggerBinding, logger
from agentdown.runtime.triggers.listener import Listener
from agentdown.runtime.triggers.settings import TriggerSettings
from agentdown.runtime.triggers.state import Record, StateStore

__all__ = ["BLOB_POISON_QUEUE", "BlobListener"]

BLOB_POISON_QUEUE = "webjobs-blobtrigger-poison"
_FINAL = ("done", "poisoned")


class BlobListener(Listener):
    prune_interval: float = 600.0
    """Seconds between two prunings of the receipts of blobs gone (the first is at the first scan)."""

    def __init__(
        self,
        binding: TriggerBinding,
        invoker: Invoker,
        settings: TriggerSettings,
        concurrency: int,
        *,
        container: BlobContainer,
        pattern: PathPattern,
        state: StateStore,
        poison: MessageQueue,
        owner: str,
    ) -> None:
        super().__init__(binding, invoker, settings, concurrency)
        self.container = container
        self.pattern = pattern
        self.state = state
        self.poison = poison
        self.owner = owner
        self._finished: set[tuple[str, str]] = set()
        """Blobs known to be done here: skipped without asking the receipt store again."""
        self._next_prune = 0.0

    async def start(self) -> None:
        await self.container.start()
        await self.state.start()
        await self.poison.create()

    def _receipts_prefix(self) -> str:
        return f"blobreceipts/{self.binding.agent}/{self.container.container}/"

    def _key(self, item: BlobItem) -> str:
        return f"{self._receipts_prefix()}{item.name}/{item.etag}"

    async def run(self) -> None:
        while not self.stopping:
            receipts = await self._receipts_to_check()
            try:
                items = await self.container.scan(self.pattern.prefix)
            except (StorageError, OSError) as exc:
                logger.warning("%s: listing %s failed: %s", self.label, self.container.describe(), exc)
                items, receipts = [], None  # an empty listing after a failure proves nothing gone
            if receipts:
                await self._prune(receipts, {(item.name, item.etag) for item in items})
            # Forget blobs that are gone, so the set stays the size of the container.
            self._finished &= {(item.name, item.etag) for item in items}
            for item in items:
                captures = self.pattern.match(item.name)
                if captures is None or (item.name, item.etag) in self._finished:
                    continue
                if not await self.wait_slot():
                    return
                try:
                    claim = await self._claim(item)
                except (StorageError, OSError, ValueError) as exc:
                    logger.warning("%s: reading the receipt of %s failed: %s", self.label, item.name, exc)
                    continue
                if claim is not None:
                    self.spawn(self._process(item, captures, claim))
            if await self.sleep(self.settings.blob_polling_interval):
                return

    async def _receipts_to_check(self) -> list[str] | None:
        """The receipt keys, when a pruning is due (listed before the container, see the module doc)."""
        if time.monotonic() < self._next_prune:
            return None
        self._next_prune = time.monotonic() + self.prune_interval
        try:
            return await self.state.keys(self._receipts_prefix() + self.pattern.prefix)
        except (StorageError, OSError) as exc:
            logger.warning("%s: listing the blob receipts failed: %s", self.label, exc)
            return None

    async def _prune(self, receipts: list[str], present: set[tuple[str, str]]) -> None:
        base = len(self._receipts_prefix())
        pruned = 0
        for key in receipts:
            # The ETag is the last segment (ETags hold no "/"); the name, which may, is the rest.
            name, _, etag = key[base:].rpartition("/")
            if (name, etag) in present or self.stopping:
                continue
            try:
                record = await self.state.get(key)
                if record is None or self._held(record):
                    continue
                pruned += await self.state.delete(key, record.version)
            except (StorageError, OSError, ValueError) as exc:
                logger.warning("%s: pruning the receipt %s failed: %s", self.label, key, exc)
        if pruned:
            logger.info("%s: pruned %d receipts of blobs that no longer exist", self.label, pruned)

    @staticmethod
    def _held(record: Record) -> bool:
        return record.data.get("status") == "processing" and float(record.data.get("until", 0)) > time.time()

    async def _claim(self, item: BlobItem) -> Record | None:
        key = self._key(item)
        record = await self.state.get(key)
        now = time.time()
        if record is None:
            return await self.state.create(key, self._receipt("processing", 1, now))
        status, attempts = record.data.get("status"), int(record.data.get("attempts", 0))
        if status in _FINAL:
            self._finished.add((item.name, item.etag))
            return None
        if float(record.data.get("until", 0)) > now:
            return None  # another worker's lease, or a failed attempt's retry delay
        if attempts >= self.settings.max_dequeue_count:
            # Its workers kept dying before finishing: give up on it as Functions would.
            poisoned = await self.state.replace(key, self._receipt("poisoned", attempts, now), record.version)
            if poisoned is not None:
                await self._send_poison(item, f"{attempts} attempts never completed")
            return None
        return await self.state.replace(key, self._receipt("processing", attempts + 1, now), record.version)

    def _receipt(self, status: str, attempts: int, now: float, until: float | None = None) -> dict[str, Any]:
        if until is None:
            until = now + self.settings.lease_seconds if status == "processing" else 0.0
        return {
            "status": status,
            "attempts": attempts,
            "owner": self.owner,
            "until": until,
            "updated": datetime.fromtimestamp(now, UTC).isoformat(),
        }

    async def _process(self, item: BlobItem, captures: dict[str, str], claim: Record) -> None:
        key = self._key(item)
        attempts = int(claim.data["attempts"])
        lease = _Lease(claim)
        renewal = asyncio.create_task(self._renew(key, lease, attempts))
        try:
            data = await self._data(item, captures)
            assert isinstance(self.invoker, Invoker)  # blobs always run an agent
            await self.invoker(data, captures)
        except asyncio.CancelledError:
            await self._settle(renewal, key, lease, self._receipt("failed", attempts - 1, time.time()))
            raise
        except Exception:
            limit = self.settings.max_dequeue_count
            logger.exception("%s: blob %s failed (attempt %d of %d)", self.label, item.name, attempts, limit)
            now = time.time()
            if attempts >= limit:
                if await self._settle(renewal, key, lease, self._receipt("poisoned", attempts, now)):
                    await self._send_poison(item, f"it failed {attempts} times")
            else:
                retry = self._receipt("failed", attempts, now, until=now + self.settings.retry_delay)
                await self._settle(renewal, key, lease, retry)
            return
        if await self._settle(renewal, key, lease, self._receipt("done", attempts, time.time())):
            self._finished.add((item.name, item.etag))

    async def _data(self, item: BlobItem, captures: dict[str, str]) -> dict[str, Any]:
        """The trigger data: the Azure Functions runtime's blob fields, then agentdown's."""
        data: dict[str, Any] = {
            "name": f"{item.container}/{item.name}",
            "uri": item.uri,
            "length": item.length,
            "blob_properties": {
                "ETag": item.etag,
                "LastModified": item.last_modified.isoformat(),
                "ContentType": item.content_type,
                "Length": item.length,
            },
            "metadata": dict(item.metadata),
            "container": item.container,
            "blob_name": item.name,
            "path_bindings": captures,
        }
        limit = self.settings.blob_max_content
        if limit > 0 and item.length > 0:
            # A few bytes past the limit tell a cut blob from one of exactly that size.
            raw = await self.container.read(item.name, limit + 4)
            text = _text(raw[:limit], cut=len(raw) > limit)
            if text is not None:
                data["content"] = text
                data["content_truncated"] = len(raw) > limit
        return data

    async def _renew(self, key: str, lease: _Lease, attempts: int) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            async with lease.lock:
                try:
                    renewed = await self.state.replace(
                        key, self._receipt("processing", attempts, time.time()), lease.record.version
                    )
                except (StorageError, OSError) as exc:
                    # A passing storage fault: try again at the next tick, the lease still has time.
                    logger.warning("%s: renewing the claim on %s failed: %s", self.label, key, exc)
                    continue
                if renewed is None:
                    lease.lost = True
                    logger.warning("%s: lost the claim on %s; another worker may run it too", self.label, key)
                    return
                lease.record = renewed

    async def _settle(
        self, renewal: asyncio.Task[None], key: str, lease: _Lease, data: dict[str, Any]
    ) -> bool:
        """Stop renewing and write the outcome; whether it was written (the claim was still ours)."""
        async with lease.lock:
            renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        if lease.lost:
            return False
        try:
            written = await self.state.replace(key, data, lease.record.version)
        except (StorageError, OSError) as exc:
            logger.error(
                "%s: writing the receipt %s failed (the blob will be tried again): %s", self.label, key, exc
            )
            return False
        if written is None:
            logger.warning("%s: the claim on %s was taken over before it was settled", self.label, key)
        return written is not None

    async def _send_poison(self, item: BlobItem, why: str) -> None:
        body = {
            "Type": "BlobTrigger",
            "FunctionId": self.binding.agent,
            "BlobType": "BlockBlob",
            "ContainerName": item.container,
            "BlobName": item.name,
            "ETag": item.etag,
        }
        try:
            await self.poison.send(json.dumps(body), time_to_live=-1)
        except StorageError as exc:
            logger.error("%s: reporting poisoned blob %s failed: %s", self.label, item.name, exc)
            return
        logger.error(
            "%s: blob %s given up because %s; reported on queue %s",
            self.label,
            item.name,
            why,
            self.poison.name,
        )


def _text(raw: bytes, *, cut: bool) -> str | None:
    """``raw`` as text, or ``None`` when it is binary (not UTF-8, or holding NUL bytes)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut through a multi-byte character at the end is still text.
        if not cut or exc.start < len(raw) - 3:
            return None
        text = raw[: exc.start].decode("utf-8")
    return None if "\x00" in text else text


class _Lease:
    def __init__(self, record: Record) -> None:
        self.record = record
        self.lock = asyncio.Lock()
        self.lost = False
