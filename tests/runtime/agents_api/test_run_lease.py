"""The run's last write carries its answer: one round trip, and nothing lost or doubled on a conflict.

On each store kind (SQLite, and Azure Tables on Azurite, which has no transactions
across partitions): a release that writes the answer with the run; one that meets a
concurrent write (a cancel request) and retries; one that finds the lease taken.
"""

from __future__ import annotations

import time

import pytest

from agentdown.runtime.agents_api.ids import new_record_id
from agentdown.runtime.agents_api.runs.lease import Lease, LeaseLost
from agentdown.runtime.agents_api.store import AgentsStore, Create


async def _leased(store: AgentsStore, owner: str = "me") -> Lease:
    body = {"status": "in_progress", "_lease": {"owner": owner, "until": time.time() + 60}}
    record = await store.create("run", "thread_1", new_record_id("run"), body)
    return Lease(store, record, owner, 60)


def _answer() -> Create:
    mid = new_record_id("msg")
    return Create("message", "thread_1", mid, {"id": mid, "content": "the answer"})


async def _messages(store: AgentsStore) -> list[str]:
    page = await store.list("message", "thread_1", limit=100)
    return [str(r.body["content"]) for r in page.records]


async def test_the_answer_and_the_completion_are_one_write(store: AgentsStore) -> None:
    lease = await _leased(store)
    body = await lease.release([_answer()], status="completed")
    assert body["status"] == "completed" and "_lease" not in body
    assert await _messages(store) == ["the answer"]
    run = await store.get("run", "thread_1", lease.record.id)
    assert run is not None and run.body["status"] == "completed"


async def test_a_cancel_written_meanwhile_is_kept_and_the_answer_written_once(store: AgentsStore) -> None:
    lease = await _leased(store)
    # A cancel request lands between the executor's last read and its release.
    await store.replace(lease.record, {**lease.record.body, "_cancel": True})
    body = await lease.release([_answer()], status="completed")
    assert body["_cancel"] is True and body["status"] == "completed" and "_lease" not in body
    assert await _messages(store) == ["the answer"]


async def test_a_lease_taken_by_another_worker_leaves_the_run_to_it(store: AgentsStore) -> None:
    lease = await _leased(store)
    stolen = {**lease.record.body, "_lease": {"owner": "other", "until": time.time() + 60}}
    await store.replace(lease.record, stolen)
    with pytest.raises(LeaseLost):
        await lease.release([_answer()], status="completed")
    run = await store.get("run", "thread_1", lease.record.id)
    assert run is not None and run.body["_lease"]["owner"] == "other" and run.body["status"] == "in_progress"
