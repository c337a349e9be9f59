"""The Tables store under a storage connection that drops answers: retried, never doubled, never lost.

A loopback TCP proxy sits between the store and the real Azurite table service. When
told to, it forwards a request to Azurite and then cuts the connection instead of
relaying the answer: the write landed, the client saw "connection reset". That is
what the soak saw from Azurite under load ("Can not write request body").
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from agentdown.runtime.agents_api.store import ETagMismatchError, StoreUnavailableError, mutate
from agentdown.runtime.queues.config import resolve_account
from azurite_peer import Azurite


class DroppingProxy:
    """Relays to ``upstream``; ``drop_answers`` answers are swallowed and their connection cut."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.drop_answers = 0
        self.refuse = False
        self.dropped = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> DroppingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refuse:
            client_w.transport.abort()
            return
        up_r, up_w = await asyncio.open_connection(self.host, self.port)

        async def upward() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await client_r.read(65536):
                    if self.refuse:  # storage unreachable: the request never gets there
                        client_w.transport.abort()
                        return
                    up_w.write(data)
                    await up_w.drain()

        task = asyncio.create_task(upward())
        try:
            while data := await up_r.read(65536):
                if self.drop_answers > 0:
                    self.drop_answers -= 1
                    self.dropped += 1
                    client_w.transport.abort()  # the request reached storage; its answer never arrives
                    return
                client_w.write(data)
                await client_w.drain()
        except ConnectionError:
            pass
        finally:
            task.cancel()
            up_w.close()
            client_w.close()


@pytest.fixture
async def proxied(azurite: Azurite) -> AsyncIterator[tuple[DroppingProxy, object]]:
    from agentdown.runtime.agents_api.table_store import TableAgentsStore

    table_url = azurite.table_endpoint
    async with DroppingProxy(table_url) as proxy:
        account = resolve_account("AzureWebJobsStorage", {"AzureWebJobsStorage": azurite.connection_string})
        suffix = uuid.uuid4().hex[:16]
        store = TableAgentsStore(
            account,
            table=f"agents{suffix}",
            container=f"agents-{suffix}",
            table_url=f"{proxy.url}/devstoreaccount1",
            retries=6,
            backoff_seconds=0.01,
        )
        try:
            yield proxy, store
        finally:
            await store.aclose()


async def test_a_create_whose_answer_was_lost_is_not_refused_as_existing(
    proxied: tuple[DroppingProxy, object],
) -> None:
    proxy, store = proxied
    await store.get("run", "t", "run_warmup")  # type: ignore[attr-defined]
    proxy.drop_answers = 1
    record = await store.create("run", "t", "run_a", {"status": "queued"})  # type: ignore[attr-defined]
    assert proxy.dropped == 1
    assert record.body == {"status": "queued"}
    stored = await store.get("run", "t", "run_a")  # type: ignore[attr-defined]
    assert stored is not None and stored.body == {"status": "queued"} and stored.etag == record.etag


async def test_a_replace_whose_answer_was_lost_succeeds_once(proxied: tuple[DroppingProxy, object]) -> None:
    proxy, store = proxied
    record = await store.create("run", "t", "run_b", {"status": "queued"})  # type: ignore[attr-defined]
    proxy.drop_answers = 1
    replaced = await store.replace(record, {"status": "completed"})  # type: ignore[attr-defined]
    assert proxy.dropped == 1
    stored = await store.get("run", "t", "run_b")  # type: ignore[attr-defined]
    assert stored is not None and stored.body == {"status": "completed"} and stored.etag == replaced.etag
    # The version it replaced is still a stale ETag: a second writer holding it loses.
    with pytest.raises(ETagMismatchError):
        await store.replace(record, {"status": "failed"})  # type: ignore[attr-defined]


async def test_equal_bodies_from_two_writers_are_not_mistaken_for_a_landed_retry(
    proxied: tuple[DroppingProxy, object],
) -> None:
    proxy, store = proxied
    await store.create("run", "t", "run_c", {"count": 0})  # type: ignore[attr-defined]

    async def increment() -> None:
        await mutate(store, "run", "t", "run_c", lambda b: {**b, "count": b["count"] + 1})  # type: ignore[arg-type]

    proxy.drop_answers = 3  # some increments land unanswered while others race them
    await asyncio.gather(*(increment() for _ in range(12)))
    final = await store.get("run", "t", "run_c")  # type: ignore[attr-defined]
    assert final is not None and final.body == {"count": 12}


async def test_storage_that_stays_down_is_unavailable_not_failed(
    proxied: tuple[DroppingProxy, object],
) -> None:
    proxy, store = proxied
    await store.get("run", "t", "run_warmup")  # type: ignore[attr-defined]
    proxy.refuse = True
    with pytest.raises(StoreUnavailableError):
        await store.create("run", "t", "run_d", {"status": "queued"})  # type: ignore[attr-defined]
    proxy.refuse = False
    record = await store.create("run", "t", "run_d", {"status": "queued"})  # type: ignore[attr-defined]
    assert record.body == {"status": "queued"}


async def test_a_delete_whose_answer_was_lost_reports_the_delete(
    proxied: tuple[DroppingProxy, object],
) -> None:
    proxy, store = proxied
    await store.create("run", "t", "run_e", {"status": "queued"})  # type: ignore[attr-defined]
    proxy.drop_answers = 2  # the read before it, or the delete itself, loses its answer
    assert await store.delete("run", "t", "run_e") is True  # type: ignore[attr-defined]
    assert proxy.dropped == 2
    assert await store.get("run", "t", "run_e") is None  # type: ignore[attr-defined]
    assert await store.delete("run", "t", "run_e") is False  # type: ignore[attr-defined]
