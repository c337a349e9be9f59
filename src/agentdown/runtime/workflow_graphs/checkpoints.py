"""Checkpoints as records of the Agents-API SQLite store: the same file, and WAL, as the run records.

A run record names its boundary checkpoint; with both in one SQLite file, one write-ahead
log orders them, so a crash can never keep the record and lose the checkpoint it names
(two files, each with its own commits, could). Commits survive a killed process
(``synchronous=NORMAL``, the store's setting) and cost no fsync each, which is most of
a superstep's time on the embedded backend. Documents are the checkpoint JSON format
(:func:`~agentdown.workflows.checkpoint.model.checkpoint_to_json`), read back through
its checks, so a forged document is refused as from any storage.
"""

from __future__ import annotations

import json

from agentdown.runtime.agents_api.store import AgentsStore, RecordExistsError
from agentdown.workflows.checkpoint.errors import CheckpointNotFoundError
from agentdown.workflows.checkpoint.model import WorkflowCheckpoint, checkpoint_from_json, checkpoint_to_json
from agentdown.workflows.checkpoint.storage import check_checkpoint_id, require_checkpoint_id

__all__ = ["RecordCheckpointStorage"]

KIND = "workflow_checkpoint"


class RecordCheckpointStorage:
    """A :class:`~agentdown.workflows.checkpoint.CheckpointStorage` over an :class:`AgentsStore`."""

    def __init__(self, store: AgentsStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"RecordCheckpointStorage({self.store.describe()})"

    async def save(self, checkpoint: WorkflowCheckpoint) -> str:
        checkpoint_id = require_checkpoint_id(checkpoint.checkpoint_id)
        body = {
            "workflow_name": checkpoint.workflow_name,
            "document": json.loads(checkpoint_to_json(checkpoint)),
        }
        try:
            await self.store.create(KIND, "", checkpoint_id, body)
        except RecordExistsError:
            record = await self.store.get(KIND, "", checkpoint_id)
            if record is None:
                raise
            await self.store.replace(record, body)
        return checkpoint_id

    async def load(self, checkpoint_id: str) -> WorkflowCheckpoint:
        record = await self.store.get(KIND, "", checkpoint_id) if check_checkpoint_id(checkpoint_id) else None
        if record is None:
            raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id!r:.140} in {self.store.describe()}")
        document = json.dumps(record.body.get("document"), ensure_ascii=False).encode("utf-8")
        cp = checkpoint_from_json(document, where=f"checkpoint record {checkpoint_id}")
        if cp.checkpoint_id != checkpoint_id:
            raise CheckpointNotFoundError(f"checkpoint record {checkpoint_id} holds another checkpoint")
        return cp

    async def list_checkpoints(self, workflow_name: str | None = None) -> list[WorkflowCheckpoint]:
        where = None if workflow_name is None else {"workflow_name": workflow_name}
        out: list[WorkflowCheckpoint] = []
        after: str | None = None
        while True:
            page = await self.store.list(KIND, "", limit=100, order="asc", after=after, where=where)
            out += [await self.load(r.id) for r in page.records]
            if not page.has_more or not page.records:
                return sorted(out, key=lambda cp: cp.timestamp)
            after = page.records[-1].id

    async def get_latest(self, workflow_name: str) -> WorkflowCheckpoint | None:
        found = await self.list_checkpoints(workflow_name)
        return found[-1] if found else None

    async def delete(self, checkpoint_id: str) -> bool:
        return check_checkpoint_id(checkpoint_id) and await self.store.delete(KIND, "", checkpoint_id)
