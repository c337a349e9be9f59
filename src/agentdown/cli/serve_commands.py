"""``agentdown serve``: the app's HTTP server (chat, streams, chat page, MCP, OpenAI API, HTTP triggers).

Exit codes: 0 stopped normally; 1 the app, its configuration or the address is unusable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from agentdown.app.diagnostics import AppLoadError
from agentdown.cli import eventloop
from agentdown.cli.main import app
from agentdown.cli.problems import show_load_problems
from agentdown.exceptions import ConfigurationError
from agentdown.server.settings import DEFAULT_HOST, DEFAULT_PORT, ServerSettings
from agentdown.telemetry.setup import start_telemetry

__all__ = ["app"]


@app.command()
def serve(
    path: Annotated[
        Path,
        typer.Argument(metavar="APP", help="The app folder (holding *.agent.md files).", show_default=False),
    ],
    host: Annotated[
        str, typer.Option("--host", envvar="AGENTDOWN_HOST", help="Address to listen on.")
    ] = DEFAULT_HOST,
    port: Annotated[
        int,
        typer.Option("--port", "-p", envvar="AGENTDOWN_PORT", help="Port to listen on (0: any free port)."),
    ] = DEFAULT_PORT,
    keys_file: Annotated[
        Path | None,
        typer.Option(
            "--keys-file",
            envvar="AGENTDOWN_KEYS_FILE",
            help='Access keys in the Azure Functions host.json shape: {"masterKey": {"value"}, "functionKeys": [...]}.',
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow a non-loopback address with no access key configured."),
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.", case_sensitive=False)
    ] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log one line per request.")
    ] = True,
) -> None:
    """Serve an app's agents over HTTP until interrupted (Ctrl+C)."""
    from agentdown.server.serving import serve_app

    level = log_level.lower()
    if level not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter(
            f"expected debug, info, warning or error, got {log_level!r}", param_hint="--log-level"
        )
    logging.basicConfig(level=level.upper(), format="%(levelname)s:  %(name)s: %(message)s")
    # The app's load warnings (ignored keys, missing system tools, ...) as check/run/worker print them.
    show_load_problems()
    # The MCP SDK narrates every session at INFO; its warnings are what an operator needs.
    logging.getLogger("mcp").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    try:
        settings = ServerSettings.from_env(host=host, port=port, keys_file=keys_file, insecure=insecure)
        start_telemetry()
        eventloop.run(serve_app(path, settings, log_level=level, access_log=access_log))
    except AppLoadError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
