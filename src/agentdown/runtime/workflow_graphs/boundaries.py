"""Runners at superstep boundaries: checkpoints saved, and decoded once per process (a small LRU)."""

from __future__ import annotations

import collections
from typing import Any

from agentdown.runtime.workflow_graphs.records import new_nonce
from agentdown.workflows.checkpoint.errors import CheckpointError
from agentdown.workflows.checkpoint.model import WorkflowCheckpoint
from agentdown.workflows.checkpoint_io import checkpoint_of, runner_from_checkpoint
from agentdown.workflows.runner import Runner
from agentdown.workflows.workflow import Workflow

__all__ = ["Boundaries"]

_CACHE = 32


class Boundaries:
    """The checkpoints of durable runs, and runners put back to them.

    A step of 1,000 targets is 1,000 jobs at one boundary: the checkpoint is loaded and
    decoded once per process (per graph object), and each job gets a fresh runner
    copied from it.
    """

    def __init__(self, checkpoints: Any) -> None:
        self.checkpoints = checkpoints
        self._cache: collections.OrderedDict[tuple[int, str], Runner] = collections.OrderedDict()

    def clear(self) -> None:
        self._cache.clear()

    async def save(
        self, workflow: Workflow, runner: Runner, run_id: str, previous: str | None
    ) -> WorkflowCheckpoint:
        cp = await checkpoint_of(workflow, runner, previous=previous, checkpoint_id=f"{run_id}-{new_nonce()}")
        cp.metadata = {"run_id": run_id}
        await self.checkpoints.save(cp)
        self._remember(workflow, cp.checkpoint_id, await runner_from_checkpoint(workflow, cp, like=runner))
        return cp

    def _remember(self, workflow: Workflow, checkpoint_id: str, runner: Runner) -> None:
        self._cache[(id(workflow), checkpoint_id)] = runner
        while len(self._cache) > _CACHE:
            self._cache.popitem(last=False)

    async def runner(self, workflow: Workflow, checkpoint_id: str) -> Runner:
        """A runner at the checkpoint ``checkpoint_id`` (decoded once per process and graph object)."""
        key = (id(workflow), checkpoint_id)
        template = self._cache.get(key)
        if template is None or template.workflow is not workflow:
            hint = getattr(self.checkpoints, "_names", None)
            if isinstance(hint, dict) and checkpoint_id not in hint:
                # The blob storage finds a name it knows without listing the container.
                hint[checkpoint_id] = self.checkpoints.blob_name(workflow.name, checkpoint_id)
            cp = await self.checkpoints.load(checkpoint_id)
            if cp.metadata.get("run_id") != checkpoint_id.rsplit("-", 1)[0]:
                raise CheckpointError(f"checkpoint {checkpoint_id!r} is not one of this run's")
            template = await runner_from_checkpoint(workflow, cp)
            self._remember(workflow, checkpoint_id, template)
        runner = Runner(workflow, like=template)
        runner.state = dict(template.state)
        runner.pending = dict(template.pending)
        runner.queue = list(template.queue)
        runner.fan_in = {g: {s: list(v) for s, v in b.items()} for g, b in template.fan_in.items()}
        runner.iteration = template.iteration
        return runner
