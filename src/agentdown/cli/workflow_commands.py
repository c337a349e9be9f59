"""``agentdown workflows list|show|cancel APP``: the planned workflows of an app, for operators.

They read the store the runner writes (the Agents-API record store the environment
selects: SQLite in the data dir, or Azure Tables when storage is configured), across
every session: operators are not bound by a session's ownership. ``cancel`` stops a
workflow as ``cancel_workflow`` does (``--terminate``: as ``terminate_workflow``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from agentdown.app.catalog import AgentCatalog, check_app
from agentdown.cli.main import app
from agentdown.cli.problems import print_problems
from agentdown.exceptions import AgentdownError
from agentdown.runtime.workflows import WorkflowHost, WorkflowService, workflow_view

__all__ = ["workflows_app"]

T = TypeVar("T")

workflows_app = typer.Typer(help="Inspect and cancel an app's planned workflows.", no_args_is_help=True)
app.add_typer(workflows_app, name="workflows")

AppPath = Annotated[
    Path, typer.Argument(metavar="APP", help="The app folder (holding *.agent.md files).", show_default=False)
]
WorkflowId = Annotated[
    str, typer.Argument(metavar="WORKFLOW_ID", help="The workflow's id.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _load(path: Path) -> AgentCatalog:
    catalog, problems = check_app(path, check_models=False)
    print_problems(problems)
    if catalog is None:
        raise typer.Exit(1)
    return catalog


def _run(path: Path, action: Callable[[WorkflowService], Awaitable[T]]) -> T:
    catalog = _load(path)

    async def main() -> T:
        host = WorkflowHost(catalog)
        try:
            await host.start(consume=False)
            return await action(host.service)
        finally:
            await host.aclose()

    try:
        return asyncio.run(main())
    except AgentdownError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _missing(workflow_id: str) -> typer.Exit:
    typer.echo(f"error: no workflow {workflow_id!r} in this app's store", err=True)
    return typer.Exit(1)


@workflows_app.command("list")
def list_workflows(
    path: AppPath,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's workflows.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Only this session's workflows.")] = None,
    active: Annotated[bool, typer.Option("--active", help="Only workflows still running.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Every workflow, newest update first."""
    where: dict[str, Any] = {}
    if agent:
        where["agent"] = agent
    if session:
        where["session_id"] = session
    if active:
        where["ended_at"] = None
    found = _run(path, lambda service: service.all_workflows(where=where or None))
    rows = [{**workflow_view(w, tasks=False), "session_id": w.session_id} for w in found]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no workflows")
        return
    for row in rows:
        typer.echo(
            f"{row['workflow_id']}  {row['runtime_status']:<10}  {row['agent']}  session {row['session_id']}  "
            f"updated {row['last_updated_time']}  {row['custom_status']}"
        )


@workflows_app.command("show")
def show(path: AppPath, workflow_id: WorkflowId, as_json: JsonOption = False) -> None:
    """One workflow: its status, each task's progress and, once ended, its output."""
    found = _run(path, lambda service: service.get(workflow_id))
    if found is None:
        raise _missing(workflow_id)
    view = {**workflow_view(found), "session_id": found.session_id}
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    typer.echo(f"workflow {view['workflow_id']} of agent {view['agent']} (session {view['session_id']})")
    typer.echo(f"status: {view['runtime_status']}  {view['custom_status']}")
    typer.echo(f"created {view['created_time']}, updated {view['last_updated_time']}")
    for task in view["tasks"]:
        attempts = f", {task['attempts']} attempt(s)" if task["attempts"] else ""
        error = f": {task['error']}" if task["error"] else ""
        typer.echo(f"  {task['id']} ({task['type']}) {task['status']}{attempts}{error}")
    if view["output"] is not None:
        typer.echo("output: " + json.dumps(view["output"], indent=2))


@workflows_app.command("cancel")
def cancel(
    path: AppPath,
    workflow_id: WorkflowId,
    reason: Annotated[
        str, typer.Option("--reason", help="Recorded with the workflow.")
    ] = "canceled by operator",
    terminate: Annotated[
        bool, typer.Option("--terminate", help="Stop at once; the output is only the reason.")
    ] = False,
) -> None:
    """Stop a running workflow (cooperatively: the output keeps the results gathered so far)."""

    async def stop(service: WorkflowService) -> Any:
        found = await service.get(workflow_id)
        if found is None:
            return None
        if found.state.finished:
            return found
        return await service.cancel(workflow_id, reason, hard=terminate)

    found = _run(path, stop)
    if found is None:
        raise _missing(workflow_id)
    typer.echo(f"workflow {workflow_id}: {found.state.runtime_status}")
