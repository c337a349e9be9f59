"""The contract every Agents-API record store meets; each test runs on SQLite and on Azure Tables (Azurite)."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agentdown.runtime.agents_api.ids import new_record_id
from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore
from agentdown.runtime.agents_api.store import (
    MAX_BODY_BYTES,
    AgentsStore,
    AgentsStoreError,
    ETagMismatchError,
    Record,
    RecordExistsError,
    mutate,
)
from azurite_peer import Azurite

REPO = Path(__file__).resolve().parents[3]
BlobLister = Callable[[], Awaitable[list[str]]]


@pytest.fixture
def blobs(store: AgentsStore, store_kind: str, request: pytest.FixtureRequest) -> BlobLister | None:
    """The names of the blobs the Table store spilled bodies to; ``None`` for SQLite."""
    if store_kind != "azure":
        return None
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob.aio import ContainerClient

    server: Azurite = request.getfixturevalue("azurite")
    container = store.container_name  # type: ignore[attr-defined]

    async def names() -> list[str]:
        async with ContainerClient.from_connection_string(server.connection_string, container) as client:
            try:
                return [blob.name async for blob in client.list_blobs()]
            except ResourceNotFoundError:
                return []

    return names


async def create_many(store: AgentsStore, kind: str, parent: str, bodies: list[dict[str, Any]]) -> list[str]:
    """Records with fresh ids (creation order = list order), written a few at a time."""
    ids = [new_record_id("msg") for _ in bodies]
    for start in range(0, len(ids), 25):
        await asyncio.gather(
            *(
                store.create(kind, parent, i, b)
                for i, b in zip(ids[start : start + 25], bodies[start : start + 25], strict=True)
            )
        )
    return ids


def ids_of(records: list[Record]) -> list[str]:
    return [r.id for r in records]


async def test_round_trip(store: AgentsStore) -> None:
    rid = new_record_id("asst")
    created = await store.create("assistant", "", rid, {"name": "a", "_lease": {"until": 1}, "n": None})
    assert (created.kind, created.parent, created.id) == ("assistant", "", rid)
    assert created.body == {"name": "a", "_lease": {"until": 1}, "n": None}
    got = await store.get("assistant", "", rid)
    assert got == created  # private keys and nulls are kept; the ETag is the one create returned
    replaced = await store.replace(created, {"name": "b"})
    assert replaced.body == {"name": "b"} and replaced.etag != created.etag
    assert await store.get("assistant", "", rid) == replaced
    assert await store.get("assistant", "", "asst_missing") is None
    assert await store.delete("assistant", "", rid) is True
    assert await store.get("assistant", "", rid) is None
    assert await store.delete("assistant", "", rid) is False
    assert (await store.list("assistant", "", limit=10)).records == []


async def test_create_refuses_an_existing_record(store: AgentsStore) -> None:
    rid = new_record_id("thread")
    await store.create("thread", "", rid, {"v": 1})
    with pytest.raises(RecordExistsError):
        await store.create("thread", "", rid, {"v": 2})
    got = await store.get("thread", "", rid)
    assert got is not None and got.body == {"v": 1}


async def test_two_writers_with_one_etag_exactly_one_wins(store: AgentsStore) -> None:
    rid = new_record_id("run")
    record = await store.create("run", "thread_x", rid, {"status": "queued"})
    outcomes = await asyncio.gather(
        store.replace(record, {"status": "in_progress", "worker": "a"}),
        store.replace(record, {"status": "in_progress", "worker": "b"}),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, Record)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], ETagMismatchError)
    current = await store.get("run", "thread_x", rid)
    assert current is not None and current.body == won[0].body and current.etag == won[0].etag
    # A writer holding the old ETag stays refused later too.
    with pytest.raises(ETagMismatchError):
        await store.replace(record, {"status": "cancelled"})


async def test_mutate_under_concurrent_incrementers_counts_exactly(store: AgentsStore) -> None:
    rid = new_record_id("run")
    await store.create("run", "t", rid, {"count": 0})

    async def incrementer() -> None:
        assert await mutate(store, "run", "t", rid, lambda b: {**b, "count": b["count"] + 1}) is not None

    await asyncio.gather(*(incrementer() for _ in range(20)))
    final = await store.get("run", "t", rid)
    assert final is not None and final.body == {"count": 20}
    assert await mutate(store, "run", "t", "run_missing", lambda b: b) is None
    unchanged = await mutate(store, "run", "t", rid, lambda b: None)
    assert unchanged == final


async def test_replace_of_a_deleted_record_is_an_etag_mismatch(store: AgentsStore) -> None:
    rid = new_record_id("msg")
    record = await store.create("message", "t", rid, {"v": 1})
    await store.delete("message", "t", rid)
    with pytest.raises(ETagMismatchError):
        await store.replace(record, {"v": 2})
    assert await store.get("message", "t", rid) is None
    # Created again under the same id: the ETag read before the delete still does not match.
    await store.create("message", "t", rid, {"v": 3})
    with pytest.raises(ETagMismatchError):
        await store.replace(record, {"v": 4})
    again = await store.get("message", "t", rid)
    assert again is not None and again.body == {"v": 3}


async def test_list_order_cursors_and_has_more(store: AgentsStore) -> None:
    ids = await create_many(store, "message", "t", [{"i": i} for i in range(10)])
    newest_first = ids[::-1]
    page = await store.list("message", "t", limit=4)
    assert ids_of(page.records) == newest_first[:4] and page.has_more
    assert [r.body["i"] for r in page.records] == [9, 8, 7, 6]
    page = await store.list("message", "t", limit=4, after=newest_first[3])
    assert ids_of(page.records) == newest_first[4:8] and page.has_more
    page = await store.list("message", "t", limit=4, after=newest_first[7])
    assert ids_of(page.records) == newest_first[8:] and not page.has_more
    page = await store.list("message", "t", limit=10)
    assert ids_of(page.records) == newest_first and not page.has_more
    page = await store.list("message", "t", limit=3, order="asc")
    assert ids_of(page.records) == ids[:3] and page.has_more
    page = await store.list("message", "t", limit=3, order="asc", after=ids[6])
    assert ids_of(page.records) == ids[7:] and not page.has_more
    # ``before`` alone: the records just before the cursor, still in the requested order.
    page = await store.list("message", "t", limit=3, order="asc", before=ids[5])
    assert ids_of(page.records) == ids[2:5] and page.has_more
    page = await store.list("message", "t", limit=3, order="asc", before=ids[3])
    assert ids_of(page.records) == ids[:3] and not page.has_more
    page = await store.list("message", "t", limit=2, before=ids[5])
    assert ids_of(page.records) == [ids[7], ids[6]] and page.has_more
    # Both cursors: the window between them, from ``after`` on.
    page = await store.list("message", "t", limit=2, order="asc", after=ids[1], before=ids[5])
    assert ids_of(page.records) == ids[2:4] and page.has_more
    page = await store.list("message", "t", limit=5, after=ids[8], before=ids[5])
    assert ids_of(page.records) == [ids[7], ids[6]] and not page.has_more
    # A cursor that names no record still places the page by its id.
    page = await store.list("message", "t", limit=20, order="asc", after=new_record_id("msg"))
    assert page.records == [] and not page.has_more
    with pytest.raises(ValueError):
        await store.list("message", "t", limit=0)


async def test_paging_250_records_in_pages_of_7_reproduces_the_ids(store: AgentsStore) -> None:
    ids = await create_many(store, "message", "big", [{"i": i} for i in range(250)])
    await create_many(store, "message", "other", [{"i": i} for i in range(5)])
    for order, expected in (("asc", ids), ("desc", ids[::-1])):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.list("message", "big", limit=7, order=order, after=cursor)  # type: ignore[arg-type]
            assert len(page.records) == 7 or not page.has_more
            seen += ids_of(page.records)
            if not page.has_more:
                break
            cursor = page.records[-1].id
        assert seen == expected, order
        # Backwards from the far end with ``before``: the same ids, page by page.
        backwards: list[list[str]] = []
        cursor = expected[-1]
        while True:
            page = await store.list("message", "big", limit=7, order=order, before=cursor)  # type: ignore[arg-type]
            backwards.insert(0, ids_of(page.records))
            if not page.has_more:
                break
            cursor = page.records[0].id
        assert [i for chunk in backwards for i in chunk] + [expected[-1]] == expected, order


async def test_where_filters_while_paging(store: AgentsStore) -> None:
    bodies: list[dict[str, Any]] = []
    for i in range(60):
        bodies.append(
            {
                "i": i,
                "run_id": "run_a" if i % 3 == 0 else "run_b",
                "status": "completed" if i % 2 else "failed",
            }
        )
    bodies[5].update(flag=True, n=1)
    bodies[6].update(flag=1, n=1.0)
    bodies[7].update(flag=None)
    ids = await create_many(store, "step", "r", bodies)
    want = [ids[i] for i in range(60) if i % 3 == 0 and i % 2 == 1]
    for order, expected in (("asc", want), ("desc", want[::-1])):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.list(
                "step",
                "r",
                limit=3,
                order=order,
                after=cursor,
                where={"run_id": "run_a", "status": "completed"},
            )  # type: ignore[arg-type]
            assert len(page.records) == 3 or not page.has_more
            assert all(r.body["run_id"] == "run_a" and r.body["status"] == "completed" for r in page.records)
            seen += ids_of(page.records)
            if not page.has_more:
                break
            cursor = page.records[-1].id
        assert seen == expected
    # Sparse matches still fill the page, and has_more is exact.
    page = await store.list("step", "r", limit=1, where={"n": 1})
    assert ids_of(page.records) == [ids[6]] and page.has_more
    page = await store.list("step", "r", limit=2, where={"n": 1})
    assert ids_of(page.records) == [ids[6], ids[5]] and not page.has_more
    # Values compare as JSON: true is not 1, and a missing key equals null.
    assert ids_of((await store.list("step", "r", limit=5, where={"flag": True})).records) == [ids[5]]
    assert ids_of((await store.list("step", "r", limit=5, where={"flag": 1})).records) == [ids[6]]
    nulls = await store.list("step", "r", limit=100, where={"flag": None})
    assert len(nulls.records) == 58 and ids[5] not in ids_of(nulls.records)
    page = await store.list("step", "r", limit=5, where={"run_id": "run_a", "status": "nope"})
    assert page.records == [] and not page.has_more
    page = await store.list("step", "r", limit=2, order="asc", before=ids[40], where={"run_id": "run_a"})
    assert ids_of(page.records) == [ids[36], ids[39]] and page.has_more


async def test_partitions_are_isolated(store: AgentsStore) -> None:
    rid = new_record_id("msg")
    await store.create("message", "thread_1", rid, {"in": 1})
    await store.create("message", "thread_2", rid, {"in": 2})
    await store.create("run", "thread_1", rid, {"in": "run"})
    for parent, value in (("thread_1", 1), ("thread_2", 2)):
        got = await store.get("message", parent, rid)
        assert got is not None and got.body == {"in": value}
        assert [r.body for r in (await store.list("message", parent, limit=10)).records] == [{"in": value}]
    assert await store.delete("message", "thread_1", rid)
    assert await store.get("message", "thread_1", rid) is None
    assert (await store.get("message", "thread_2", rid)) is not None
    assert (await store.get("run", "thread_1", rid)) is not None


async def test_delete_children(store: AgentsStore, blobs: BlobLister | None) -> None:
    await create_many(store, "message", "doomed", [{"i": i} for i in range(130)])
    big = new_record_id("msg")
    await store.create("message", "doomed", big, {"text": "x" * 100_000})
    keep = await create_many(store, "message", "kept", [{"i": i} for i in range(3)])
    run = new_record_id("run")
    await store.create("run", "doomed", run, {"status": "completed"})
    assert await store.delete_children("message", "doomed") == 131
    assert (await store.list("message", "doomed", limit=5)).records == []
    assert await store.get("message", "doomed", big) is None
    assert ids_of((await store.list("message", "kept", limit=5, order="asc")).records) == keep
    assert await store.get("run", "doomed", run) is not None
    assert await store.delete_children("message", "doomed") == 0
    if blobs is not None:
        assert await blobs() == []


async def test_a_large_body_round_trips_and_goes_with_its_record(
    store: AgentsStore, blobs: BlobLister | None
) -> None:
    rid = new_record_id("msg")
    large = {"content": [{"text": "é" * 1_000_000}], "note": "ß🙂" * 1000}  # ~2 MB of UTF-8
    created = await store.create("message", "t", rid, large)
    assert created.body == large
    got = await store.get("message", "t", rid)
    assert got is not None and got.body == large and got.etag == created.etag
    listed = await store.list("message", "t", limit=5, where={"note": large["note"]})
    assert [r.body for r in listed.records] == [large]
    if blobs is not None:
        assert len(await blobs()) == 1
    bigger = {**large, "more": "y" * 500_000}
    replaced = await store.replace(got, bigger)
    if blobs is not None:
        assert len(await blobs()) == 1  # the old version's blob went with it
    small = await store.replace(replaced, {"content": []})
    assert small.body == {"content": []}
    if blobs is not None:
        assert await blobs() == []
    grown = await store.replace(small, large)
    assert (await store.get("message", "t", rid)) == grown
    assert await store.delete("message", "t", rid)
    assert await store.get("message", "t", rid) is None
    if blobs is not None:
        assert await blobs() == []


HOSTILE = [
    "../x",
    "a/b#c?d",
    "back\\slash",
    "ünïcødé 🙂 名前",
    "x" * 400,
    "a/" * 200,
    "🙂" * 400,
    "ctl\x00\x01\x1f\x7f\x9f",
    "quote'd",
    "!21",
    "!",
    "~",
    "a|b",
    "%2F",
]


async def test_hostile_ids_and_parents_are_kept_apart(store: AgentsStore) -> None:
    bystander = new_record_id("msg")
    await store.create("message", "x", bystander, {"who": "bystander"})
    for n, text in enumerate(HOSTILE):
        await store.create("message", text, text, {"n": n, "as": "both"})
        await store.create("message", "x", text, {"n": n, "as": "id"})
        await store.create(text, "x", bystander, {"n": n, "as": "kind"})
    # ``|`` must not let kind and parent run into each other.
    await store.create("k", "a|b", "r1", {"where": "k/a|b"})
    await store.create("k|a", "b", "r1", {"where": "k|a/b"})
    for n, text in enumerate(HOSTILE):
        got = await store.get("message", text, text)
        assert got is not None and got.body == {"n": n, "as": "both"} and (got.parent, got.id) == (text, text)
        got = await store.get("message", "x", text)
        assert got is not None and got.body == {"n": n, "as": "id"} and got.id == text
        got = await store.get(text, "x", bystander)
        assert got is not None and got.body == {"n": n, "as": "kind"} and got.kind == text
        page = await store.list("message", text, limit=5)
        assert [(r.id, r.body["n"]) for r in page.records] == [(text, n)]
    everyone = await store.list("message", "x", limit=100)
    assert sorted(ids_of(everyone.records)) == sorted([bystander, *HOSTILE])
    assert (await store.get("k", "a|b", "r1")).body == {"where": "k/a|b"}  # type: ignore[union-attr]
    assert (await store.get("k|a", "b", "r1")).body == {"where": "k|a/b"}  # type: ignore[union-attr]
    # Paging over the odd ids visits each once.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list("message", "x", limit=4, after=cursor)
        seen += ids_of(page.records)
        if not page.has_more:
            break
        cursor = page.records[-1].id
    assert seen == ids_of(everyone.records)
    for text in HOSTILE:
        assert await store.delete("message", "x", text)
    survivor = await store.get("message", "x", bystander)
    assert survivor is not None and survivor.body == {"who": "bystander"}


async def test_bodies_above_the_limit_are_refused(store: AgentsStore) -> None:
    too_big = {"text": "x" * MAX_BODY_BYTES}
    rid = new_record_id("file")
    with pytest.raises(AgentsStoreError, match="bytes"):
        await store.create("file", "", rid, too_big)
    assert await store.get("file", "", rid) is None
    record = await store.create("file", "", rid, {"text": "small"})
    with pytest.raises(AgentsStoreError, match="bytes"):
        await store.replace(record, too_big)
    assert await store.get("file", "", rid) == record


# SQLite only.

_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore
    from agentdown.runtime.agents_api.store import mutate

    async def main(path, times):
        store = SqliteAgentsStore(path)
        try:
            for _ in range(times):
                done = await mutate(store, "run", "t", "run_shared", lambda b: {**b, "n": b["n"] + 1}, attempts=200)
                assert done is not None
        finally:
            await store.aclose()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_sqlite_two_processes_mutating_one_record_count_exactly(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    store = SqliteAgentsStore(path)
    await store.create("run", "t", "run_shared", {"n": 0})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    workers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", _WORKER, str(path), "200", env=env)
        for _ in range(2)
    ]
    codes = await asyncio.gather(*(w.wait() for w in workers))
    assert codes == [0, 0]
    final = await store.get("run", "t", "run_shared")
    assert final is not None and final.body == {"n": 400}
    await store.aclose()


async def test_sqlite_errors_become_store_errors(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    broken = SqliteAgentsStore(tmp_path / "dir.db")
    with pytest.raises(AgentsStoreError):
        await broken.get("run", "t", "run_x")
    await broken.aclose()
    # Busy past the timeout (another connection holds the write lock) is an error, not a hang.
    import sqlite3

    path = tmp_path / "locked.db"
    store = SqliteAgentsStore(path, busy_timeout=0.3)
    await store.create("run", "t", "run_a", {})
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(AgentsStoreError, match="locked"):
            await store.create("run", "t", "run_b", {})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert await store.get("run", "t", "run_b") is None
    await store.aclose()
    with pytest.raises(AgentsStoreError, match="closed"):
        await store.get("run", "t", "run_a")


# Azure Tables only.


async def test_table_service_errors_become_store_errors(azurite: Azurite) -> None:
    from agentdown.runtime.agents_api.table_store import TableAgentsStore
    from agentdown.runtime.queues.config import resolve_account

    account = resolve_account("S", {"S": azurite.connection_string})
    store = TableAgentsStore(account, table="no_such-table!")  # the service refuses the name: 400
    try:
        with pytest.raises(AgentsStoreError, match="create table"):
            await store.get("run", "t", "run_x")
    finally:
        await store.aclose()


async def test_write_applies_creates_and_replaces_in_order(store: AgentsStore, store_kind: str) -> None:
    from agentdown.runtime.agents_api.store import Create, Replace

    parent = new_record_id("thread")
    first = await store.create("run", parent, "run_a", {"n": 1})
    written = await store.write(
        [
            Create("message", parent, "msg_a", {"text": "hi"}),
            Replace(first, {"n": 2}),
            Create("step", "run_a", "s", {}),
        ]
    )
    assert [(r.kind, r.id, r.body) for r in written] == [
        ("message", "msg_a", {"text": "hi"}),
        ("run", "run_a", {"n": 2}),
        ("step", "s", {}),
    ]
    assert (await store.get("run", parent, "run_a")).body == {"n": 2}  # type: ignore[union-attr]
    # The returned records carry current ETags: they can be replaced again.
    await store.replace(written[1], {"n": 3})
    # A batch with a stale ETag fails; SQLite writes none of it, Tables what came before.
    with pytest.raises(ETagMismatchError):
        await store.write([Create("message", parent, "msg_b", {}), Replace(first, {"n": 9})])
    assert (await store.get("run", parent, "run_a")).body == {"n": 3}  # type: ignore[union-attr]
    left = await store.get("message", parent, "msg_b")
    assert (left is None) if store_kind == "sqlite" else (left is not None)
