"""What ``get_workflow_status`` / ``list_workflows`` show of a run: the other runtime's status envelope.

``{workflow_id, runtime_status, custom_status, output, created_time, last_updated_time}``
(``azure_functions_agents/workflows/tools.py`` ``status_envelope``; ``docs/workflows.md``
"Status envelope"). :func:`task_progress` adds the per-task view a progress card needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .plan import MAX_LIST_WORKFLOWS_RESULTS
from .state import PlanState

__all__ = ["list_envelopes", "status_envelope", "task_progress"]


def status_envelope(state: PlanState) -> dict[str, Any]:
    """The envelope for ``state``; ``output`` only once the run has ended, as there."""
    return {
        "workflow_id": state.workflow_id,
        "runtime_status": state.runtime_status,
        "custom_status": state.custom_status,
        "output": state.output if state.finished else None,
        "created_time": state.created_time.isoformat(),
        "last_updated_time": state.last_updated_time.isoformat(),
    }


def task_progress(state: PlanState) -> list[dict[str, Any]]:
    """One entry per task in plan order: id, type, status, attempts, error and times."""
    out: list[dict[str, Any]] = []
    for task in state.plan.tasks:
        ts = state.tasks[task.id]
        units = [state.units[k] for k in ts.units]
        out.append(
            {
                "id": task.id,
                "type": task.type,
                "status": ts.status,
                "attempts": sum(u.attempts for u in units),
                "elements": len(units) if task.for_each is not None else None,
                "error": ts.error,
                "started_time": ts.started_time.isoformat() if ts.started_time else None,
                "finished_time": ts.finished_time.isoformat() if ts.finished_time else None,
            }
        )
    return out


def list_envelopes(
    states: Iterable[PlanState], limit: int = MAX_LIST_WORKFLOWS_RESULTS
) -> list[dict[str, Any]]:
    """``list_workflows``' answer for one session's runs: newest update first, at most ``limit``."""
    ordered = sorted(states, key=lambda s: s.last_updated_time, reverse=True)
    return [status_envelope(s) for s in ordered[:limit]]
