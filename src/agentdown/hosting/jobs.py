"""The durable queues' consumers as queue-triggered functions, so the platform scales them.

Under ``agentdown serve`` (and ``agentdown worker``) in-process loops consume four queues;
under ``create_function_app()`` nothing in the worker consumes them, and each is a
``queueTrigger`` function on the Agents-API connection (``AGENTDOWN_AGENTS_CONNECTION``,
default ``AzureWebJobsStorage``), executing one message per invocation:

* ``agentdown_runs``: Agents-API runs, ``agentdown-runs`` (``AGENTDOWN_RUNS_QUEUE``);
* ``agentdown_ingest``: vector store files, ``agentdown-ingest`` (``AGENTDOWN_INGEST_QUEUE``);
* ``agentdown_workflows``: planned workflows, ``agentdown-workflows`` (``AGENTDOWN_WORKFLOWS_QUEUE``),
  when an agent plans workflows;
* ``agentdown_workflow_steps``: ``workflows/`` graph steps, ``agentdown-workflow-steps``
  (``AGENTDOWN_WORKFLOW_STEPS_QUEUE``), when the app has graphs.

With ``agentdown_ingest`` comes the timer function ``agentdown_vector_store_sweep`` (every
ten minutes, as the in-process sweep): expired vector stores are marked and files whose
ingestion nobody holds are queued again.

Each handler turns the host's ``func.QueueMessage`` into agentdown's delivery (id, pop
receipt, dequeue count) and calls the service's ``handle_delivered``: the same code as the
in-process loop, so the same lease and idempotency rules hold. A redelivered job finds
its run (or step, or file) leased or finished and does nothing twice; a job that finds
the work held by a live worker hides itself again for a lease; a failure raises, so the
host makes the message visible again and, after ``maxDequeueCount`` (host.json, default
5), moves it to ``<queue>-poison``. The handler deletes a finished job itself, with the
delivery's pop receipt; the host's own delete then finds it gone, which the Functions
queue extension treats as done.
"""

# No `from __future__ import annotations`: the worker reads the handlers' annotations.

import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import azure.functions as func

from agentdown.hosting.payloads import queue_message
from agentdown.hosting.state import HostedApp

__all__ = ["JOB_FUNCTIONS", "SWEEP_FUNCTION", "agents_connection", "register_job_functions"]

logger = logging.getLogger("agentdown.hosting")

JOB_FUNCTIONS = ("agentdown_runs", "agentdown_ingest", "agentdown_workflows", "agentdown_workflow_steps")
# The queues' default names, as the runtime's services name them (checked against them in tests:
# importing those services here would put the run executor on every cold start's path).
_DEFAULTS = {
    "agentdown_runs": ("AGENTDOWN_RUNS_QUEUE", "agentdown-runs"),
    "agentdown_ingest": ("AGENTDOWN_INGEST_QUEUE", "agentdown-ingest"),
    "agentdown_workflows": ("AGENTDOWN_WORKFLOWS_QUEUE", "agentdown-workflows"),
    "agentdown_workflow_steps": ("AGENTDOWN_WORKFLOW_STEPS_QUEUE", "agentdown-workflow-steps"),
}

SWEEP_FUNCTION = "agentdown_vector_store_sweep"
SWEEP_SCHEDULE = "0 */10 * * * *"

Handle = Callable[[HostedApp, object], Awaitable[None]]


def agents_connection(environ: Mapping[str, str]) -> str:
    """The connection setting the Agents API's records and queues use (as :class:`RunHost` reads it)."""
    return (environ.get("AGENTDOWN_AGENTS_CONNECTION") or "").strip() or "AzureWebJobsStorage"


def queue_name(function: str, environ: Mapping[str, str]) -> str:
    setting, default = _DEFAULTS[function]
    return (environ.get(setting) or "").strip() or default


async def _runs(hosted: HostedApp, message: object) -> None:
    api = hosted.agents_api
    service = await api.ensure_runs()
    await service.handle_delivered(queue_message(message))


async def _ingest(hosted: HostedApp, message: object) -> None:
    service = await hosted.agents_api.ensure_ingest()
    await service.handle_delivered(queue_message(message))


async def _workflows(hosted: HostedApp, message: object) -> None:
    from agentdown.runtime.workflows import ensure_workflow_host

    host = await ensure_workflow_host(hosted.catalog, consume=False)
    await host.service.handle_delivered(queue_message(message))


async def _steps(hosted: HostedApp, message: object) -> None:
    api = hosted.agents_api
    await api.ensure_runs()
    if api.graphs is None:  # the folder has no graph after all: nothing will ever take the job
        raise RuntimeError("workflow steps: this app has no workflows/ graphs to run the job")
    await api.graphs.jobs.handle_delivered(queue_message(message))


_HANDLERS: dict[str, Handle] = {
    "agentdown_runs": _runs,
    "agentdown_ingest": _ingest,
    "agentdown_workflows": _workflows,
    "agentdown_workflow_steps": _steps,
}


def _function(hosted: HostedApp, name: str) -> object:
    handle = _HANDLERS[name]

    async def job(msg: func.QueueMessage) -> None:
        await handle(hosted, msg)

    job.__name__ = name
    return job


def has_graphs(root: Path) -> bool:
    """Whether the app has ``workflows/`` graph modules (looked at without importing them)."""
    folder = root / "workflows"
    return folder.is_dir() and any(p.suffix == ".py" and not p.name.startswith("_") for p in folder.iterdir())


def register_job_functions(
    app: func.FunctionApp, hosted: HostedApp, *, workflows: bool, graphs: bool
) -> list[str]:
    """The queue functions of the durable queues this app uses (see the module docstring); their names."""
    env = hosted.environ
    connection = agents_connection(env)
    wanted = {"agentdown_runs": True, "agentdown_ingest": True}
    wanted |= {"agentdown_workflows": workflows, "agentdown_workflow_steps": graphs}
    names = []
    for name in JOB_FUNCTIONS:
        if not wanted[name]:
            continue
        trigger = app.queue_trigger(arg_name="msg", queue_name=queue_name(name, env), connection=connection)
        app.function_name(name=name)(trigger(_function(hosted, name)))
        names.append(name)
    names.append(_register_sweep(app, hosted))
    return names


def _register_sweep(app: func.FunctionApp, hosted: HostedApp) -> str:
    async def agentdown_vector_store_sweep(timer: func.TimerRequest) -> None:
        await (await hosted.agents_api.ensure_ingest()).sweep_once()

    timer = app.timer_trigger(arg_name="timer", schedule=SWEEP_SCHEDULE, run_on_startup=False)
    app.function_name(name=SWEEP_FUNCTION)(timer(agentdown_vector_store_sweep))
    return SWEEP_FUNCTION
