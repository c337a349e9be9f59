"""Settings of the workflow runner, from the environment.

* ``AGENTDOWN_WORKFLOWS_QUEUE``: the jobs queue (default ``agentdown-workflows``), on the
  account ``AGENTDOWN_AGENTS_CONNECTION`` names, as the Agents API's runs queue.
* ``AGENTDOWN_WORKFLOW_LEASE_SECONDS`` (30): how long a received job stays hidden without
  renewal; a worker that dies holding one loses it after this long.
* ``AGENTDOWN_WORKFLOW_CONCURRENCY`` (16): jobs one process runs at once.
* ``AGENTDOWN_WORKFLOW_POLL_SECONDS`` (1): how often an idle consumer asks the queue.
* ``AGENTDOWN_WORKFLOW_EXECUTE`` (``true``): ``false`` makes ``serve`` (and any process
  whose chat turns start workflows) only queue steps, leaving them to ``agentdown worker``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from agentdown.app.bindings import validate_queue_name
from agentdown.exceptions import ConfigurationError
from agentdown.models.env import positive_int
from agentdown.runtime.queues.base import poison_queue_name

__all__ = ["MAX_DELAY_SECONDS", "WORKFLOWS_QUEUE", "WorkflowSettings"]

WORKFLOWS_QUEUE = "agentdown-workflows"
MAX_DELAY_SECONDS = 6 * 24 * 3600.0
"""Longest visibility delay a timer job gets: under Azure's 7-day cap; a later timer re-arms when it fires."""


@dataclass(frozen=True, slots=True)
class WorkflowSettings:
    queue: str = WORKFLOWS_QUEUE
    lease_seconds: float = 30.0
    concurrency: int = 16
    poll_seconds: float = 1.0
    execute: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkflowSettings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(name: str, default: float) -> float:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if not value > 0 or value == float("inf"):
                raise ConfigurationError(f"{name} must be a number of seconds > 0, got {raw!r}")
            return value

        queue = (env.get("AGENTDOWN_WORKFLOWS_QUEUE") or "").strip() or WORKFLOWS_QUEUE
        try:
            validate_queue_name(queue)
            poison_queue_name(queue)
        except ValueError as exc:
            raise ConfigurationError(f"AGENTDOWN_WORKFLOWS_QUEUE: {exc}") from None
        return cls(
            queue=queue,
            lease_seconds=number("AGENTDOWN_WORKFLOW_LEASE_SECONDS", defaults.lease_seconds),
            concurrency=positive_int(env, "AGENTDOWN_WORKFLOW_CONCURRENCY") or defaults.concurrency,
            poll_seconds=number("AGENTDOWN_WORKFLOW_POLL_SECONDS", defaults.poll_seconds),
            execute=_flag(env, "AGENTDOWN_WORKFLOW_EXECUTE"),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")
