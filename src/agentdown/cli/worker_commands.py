"""``agentdown worker`` (an app's event triggers and Agents API runs) and ``agentdown enqueue`` (a message, for testing).

N workers pointed at the same Azure Storage account share its queues: each message
is handled once, and again by another worker if the one handling it dies. Without
a storage setting, workers and ``enqueue`` share the embedded queue of this machine.
The runs of the Agents API are jobs on one more queue (``agentdown-runs``), so
workers execute them too, beside ``agentdown serve``; so are the steps of planned
workflows (``agentdown-workflows``) when an agent of the app has ``workflows: {enabled: true}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from agentdown.app.catalog import AgentCatalog, check_app
from agentdown.app.spec import QueueTrigger
from agentdown.cli import eventloop
from agentdown.cli.main import app
from agentdown.cli.problems import print_problems
from agentdown.exceptions import AgentdownError, ConfigurationError
from agentdown.runtime.agents_api.config import open_agents_store
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.runs.host import RunHost
from agentdown.runtime.queue_tools.server import QueueFunctionHost, served_tools
from agentdown.runtime.queues import (
    DEFAULT_CONNECTION,
    open_queue_service,
    resolve_account,
    validate_queue_name,
)
from agentdown.runtime.runner import Runner
from agentdown.runtime.triggers import TriggerHost, TriggerSettings
from agentdown.runtime.workflows import WorkflowHost, workflows_enabled
from agentdown.server.redact import install_log_redaction
from agentdown.sessions.select import select_store
from agentdown.telemetry.setup import start_telemetry

__all__ = ["app", "enqueue", "worker"]

AppPath = Annotated[
    Path, typer.Argument(metavar="APP", help="The app folder (holding *.agent.md files).", show_default=False)
]
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _load(path: Path) -> AgentCatalog:
    catalog, problems = check_app(path, check_models=False)
    print_problems(problems)
    if catalog is None:
        raise typer.Exit(1)
    return catalog


def _configure_logging(level: str) -> None:
    # A worker logs storage errors, which may quote SAS URLs (sig=...) or keys.
    install_log_redaction()
    root = logging.getLogger("agentdown")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level.upper())


@app.command()
def worker(
    path: AppPath,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Runs at once per trigger (default AGENTDOWN_TRIGGER_CONCURRENCY, 4).",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error (logs go to stderr).")
    ] = "info",
    agents_api: Annotated[
        bool,
        typer.Option(
            "--agents-api/--no-agents-api", help="Also execute runs of the Agents API (default: yes)."
        ),
    ] = True,
    queue_tools: Annotated[
        bool,
        typer.Option(
            "--queue-tools",
            help="Also serve the app's tools/ tools as queue functions: those its queue_tools declarations "
            "name, on their input queues (or --tool on --input-queue/--output-queue).",
        ),
    ] = False,
    tool: Annotated[
        str | None, typer.Option("--tool", help="With --queue-tools: serve only this tool.")
    ] = None,
    input_queue: Annotated[
        str | None, typer.Option("--input-queue", help="With --queue-tools: the queue calls arrive on.")
    ] = None,
    output_queue: Annotated[
        str | None, typer.Option("--output-queue", help="With --queue-tools: the queue replies go to.")
    ] = None,
    connection: Annotated[
        str | None,
        typer.Option("--connection", help="With --queue-tools: the connection setting (default: declared)."),
    ] = None,
) -> None:
    """Run the app's timer, queue and blob triggers and the Agents API's runs, until SIGTERM or Ctrl-C.

    The first signal stops polling and lets runs in progress finish (AGENTDOWN_DRAIN_SECONDS);
    a second one abandons them at once, and their messages are delivered again.
    """
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise typer.BadParameter("expected debug, info, warning or error", param_hint="--log-level")
    _configure_logging(log_level)
    catalog = _load(path)
    try:
        start_telemetry()
        runner = Runner(catalog, select_store(os.environ))
        host = TriggerHost(runner, concurrency=concurrency)
        runs = RunHost(AgentsApi(open_agents_store(os.environ), runner)) if agents_api else None
        flows = WorkflowHost(catalog) if workflows_enabled(catalog) else None
        functions = None
        if queue_tools:
            served = served_tools(
                catalog, tool=tool, input_queue=input_queue, output_queue=output_queue, connection=connection
            )
            functions = QueueFunctionHost(served, environ=os.environ, concurrency=concurrency)
        elif tool or input_queue or output_queue:
            raise ConfigurationError("--tool, --input-queue and --output-queue need --queue-tools")
    except (ConfigurationError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if not host.triggers and runs is None and functions is None and flows is None:
        typer.echo(
            f"error: {path} has no timer, queue or blob triggers and --no-agents-api: a worker has nothing to run",
            err=True,
        )
        raise typer.Exit(1)
    try:
        eventloop.run(_run_worker(host, runner, runs, functions, flows))
    except (AgentdownError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


async def _run_worker(
    host: TriggerHost,
    runner: Runner,
    runs: RunHost | None,
    functions: QueueFunctionHost | None = None,
    flows: WorkflowHost | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hurry = asyncio.Event()
    signals = 0
    hurried: list[asyncio.Task[None]] = []

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            typer.echo("stopping: finishing runs in progress (signal again to abandon them)", err=True)
            stop.set()
        elif not hurried:
            hurry.set()
            hurried.append(loop.create_task(host.stop(timeout=0)))
            if functions is not None:
                hurried.append(loop.create_task(functions.stop(timeout=0)))

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' loop
            loop.add_signal_handler(sig, on_signal)
    try:
        await host.start()
        typer.echo(f"worker running {len(host.triggers)} trigger(s):", err=True)
        for trigger in host.triggers:
            typer.echo(f"  {trigger}", err=True)
        if functions is not None:
            await functions.start()
            typer.echo(f"worker serving {len(functions.served)} queue tool(s):", err=True)
            for line in functions.describe():
                typer.echo(f"  {line}", err=True)
        if runs is not None:
            await runs.start()
            typer.echo(f"worker executing Agents API runs from the {runs.describe()}", err=True)
        if flows is not None:
            await flows.start()
            typer.echo(f"worker executing planned workflow steps from the {flows.describe()}", err=True)
        await stop.wait()
    finally:
        if functions is not None:
            await functions.stop()
        if flows is not None:
            # Workflow calls in progress finish (a second signal cuts this short, as for the triggers).
            draining = loop.create_task(flows.aclose(drain=host.settings.drain_seconds))
            hurrying = loop.create_task(hurry.wait())
            await asyncio.wait([draining, hurrying], return_when=asyncio.FIRST_COMPLETED)
            hurrying.cancel()
            draining.cancel()
            with contextlib.suppress(BaseException):
                await draining
            await flows.aclose()
        if runs is not None:
            await runs.aclose()
            await runs.service.api.store.aclose()
        await host.stop()
        await asyncio.gather(*hurried, return_exceptions=True)
        await runner.aclose()


@app.command()
def enqueue(
    path: AppPath,
    queue: Annotated[str, typer.Argument(metavar="QUEUE", help="The queue name.", show_default=False)],
    message: Annotated[
        str,
        typer.Argument(
            metavar="MESSAGE", help='The message text; "-" reads it from stdin.', show_default=False
        ),
    ],
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            help="The connection setting's name (default: the one of the app's queue_trigger on QUEUE, "
            "else AzureWebJobsStorage).",
        ),
    ] = None,
) -> None:
    """Put a message on a queue of the app: the embedded one, or Azure Storage when configured."""
    text = sys.stdin.read() if message == "-" else message
    catalog = _load(path)
    try:
        validate_queue_name(queue)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="QUEUE") from None
    setting = connection or _queue_connection(catalog, queue)
    try:
        account = resolve_account(setting, os.environ)
        service = open_queue_service(
            account, encoding=TriggerSettings.from_environ(os.environ).message_encoding
        )
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None

    async def send() -> str:
        try:
            target = service.queue(queue)
            await target.create()
            return await target.send(text)
        finally:
            await service.aclose()

    try:
        message_id = asyncio.run(send())
    except (AgentdownError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"enqueued message {message_id} on queue {queue} ({service.describe()})")


def _queue_connection(catalog: AgentCatalog, queue: str) -> str:
    for spec in catalog.specs.values():
        if isinstance(spec.trigger, QueueTrigger) and spec.trigger.queue_name == queue:
            return spec.trigger.connection
    return DEFAULT_CONNECTION
