"""The graph signature: a stable hash of a workflow's shape, so a checkpoint of another graph is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentdown.workflows.edges import EdgeGroup
from agentdown.workflows.executor import Executor
from agentdown.workflows.typing_utils import type_name

if TYPE_CHECKING:
    from agentdown.workflows.workflow import Workflow

__all__ = ["compute_signature", "graph_signature"]


def compute_signature(start_id: str, executors: Mapping[str, Executor], groups: Sequence[EdgeGroup]) -> str:
    """sha256 over executor ids, classes and types, and every edge group (conditions by presence).

    Only what is the same in every process that builds the graph from the same code goes
    in: names, never object ids or memory addresses.
    """
    doc: dict[str, Any] = {
        "start": start_id,
        "executors": [
            [
                ex.id,
                f"{type(ex).__module__}:{type(ex).__qualname__}",
                [_type_key(t) for t in ex.input_types],
                [_type_key(t) for t in ex.output_types],
                ex.signature_parts(),
            ]
            for ex in executors.values()
        ],
        "edge_groups": [
            [g.id, g.kind, [[e.source_id, e.target_id, e.condition is not None] for e in g.edges]]
            for g in groups
        ],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _type_key(spec: Any) -> str:
    # Module-qualified, so two classes of one name in different modules differ.
    if isinstance(spec, type) and not hasattr(spec, "__origin__"):
        return f"{spec.__module__}:{spec.__qualname__}"
    return type_name(spec)


def graph_signature(workflow: Workflow) -> str:
    """The signature of ``workflow``'s graph (what its checkpoints record)."""
    return compute_signature(workflow.start_executor_id, workflow.executors, workflow.edge_groups)
