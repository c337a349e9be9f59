"""Serving an app folder with uvicorn: what ``agentdown serve`` and ``make run`` call."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import uvicorn

from agentdown.app.catalog import AgentCatalog, load_app
from agentdown.app.spec import HttpTrigger
from agentdown.models.base import ChatModel
from agentdown.runtime import Runner
from agentdown.server.app import create_app
from agentdown.server.redact import install_log_redaction
from agentdown.server.settings import ServerSettings, is_loopback
from agentdown.sessions import store_settings
from agentdown.sessions.select import select_store
from agentdown.version import __version__

__all__ = ["bind_socket", "describe", "serve_app"]

logger = logging.getLogger("agentdown.server")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one); ``OSError`` says why not."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def describe(
    catalog: AgentCatalog, settings: ServerSettings, app_path: Path, triggers: Any = None
) -> list[str]:
    """The lines ``serve`` prints at start: where each endpoint is, what each trigger watches."""
    url = settings.base_url
    lines = [f"agentdown {__version__} serving {app_path} at {url}"]
    for spec in catalog.specs.values():
        endpoints = spec.builtin_endpoints
        if endpoints.debug_chat_ui:
            lines.append(f"  {spec.slug}: chat page  {url}/agents/{spec.slug}/")
        if endpoints.chat_api:
            lines.append(f"  {spec.slug}: chat API   POST {url}/agents/{spec.slug}/chat | /chatstream")
        if spec.knowledge is not None:
            lines.append(
                f"  {spec.slug}: knowledge  {', '.join(spec.knowledge.paths)} (indexed in the background)"
            )
        if isinstance(spec.trigger, HttpTrigger):
            methods = ",".join(spec.trigger.methods)
            lines.append(f"  {spec.slug}: HTTP trigger {methods} {url}/{spec.trigger.route}")
    for trigger in getattr(triggers, "triggers", ()):
        lines.append(f"  {trigger.agent}: {trigger.type} ({trigger.storage})")
    mcp = [s.slug for s in catalog.specs.values() if s.builtin_endpoints.mcp]
    if mcp:
        lines.append(f"  MCP server  {url}/mcp  (tools: {', '.join(mcp)})")
    models = [s.slug for s in catalog.specs.values() if s.builtin_endpoints.chat_api]
    if models:
        lines.append(f"  OpenAI API  {url}/v1  (models: {', '.join(models)})")
    if settings.keys.configured:
        lines.append("  access keys: required where an agent's http_auth asks for them")
    elif is_loopback(settings.host):
        lines.append("  access keys: none configured, so none are checked (this machine only)")
    else:
        lines.append(
            "  access keys: none configured and --insecure given: ANYONE who can reach it can run the agents"
        )
    return lines


class _Server(uvicorn.Server):
    """A uvicorn server that reports once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_ready()


async def serve_app(
    app_path: str | Path,
    settings: ServerSettings,
    *,
    model: ChatModel | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Load the app at ``app_path`` and serve it until interrupted.

    Every log record of the process is redacted from here on (``?code=`` and other
    credential query parameters, auth headers, bearer tokens): see :mod:`.redact`.

    Raises ``AppLoadError`` / ``ConfigurationError`` for an app or configuration that
    cannot be served (every agent is built first, so a missing model provider shows
    here) and ``OSError`` when the address cannot be bound.
    """
    env = dict(os.environ if environ is None else environ)
    # Before anything logs: access keys arrive as ?code= and uvicorn logs query strings.
    install_log_redaction()
    settings.check_exposure()
    path = Path(app_path)
    catalog = load_app(path, environ=env, model=model)
    try:
        for slug in catalog:
            catalog.build_agent(slug)
        # The Azure Functions agents runtime's session blobs when its settings are in use, as hosted.
        store = select_store(env)
    except BaseException:
        await catalog.aclose()
        raise
    runner = Runner(catalog, store)
    try:
        app = create_app(catalog, runner, settings, environ=env, close_runner=True, execute_runs=True)
        sock = bind_socket(settings.host, settings.port)
    except BaseException:
        await runner.aclose()
        raise
    bound = dataclasses.replace(settings, port=sock.getsockname()[1])
    stream = out or sys.stdout

    def ready() -> None:
        for line in describe(catalog, bound, path, app.state.trigger_host):
            print(line, file=stream)
        where = store_settings(env).describe()
        if getattr(store, "kind", "") == "functions_blob":
            where = (
                f"the Azure Functions agents runtime's blobs, container {getattr(store, 'container', '')!r}"
            )
        print(f"  sessions: {where}", file=stream)
        print("Press Ctrl+C to stop.", file=stream, flush=True)

    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    try:
        await _Server(config, ready).serve(sockets=[sock])
    finally:
        sock.close()
