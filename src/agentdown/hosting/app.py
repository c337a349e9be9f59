"""``create_function_app()``: an app folder as an ``azure.functions.FunctionApp``.

``function_app.py`` of a deployed app is::

    from agentdown.hosting import create_function_app

    app = create_function_app()

The app is loaded and checked while the Functions host indexes ``function_app.py``: a bad
agent file, tool, route or setting raises there (``AppLoadError`` / ``ConfigurationError``
listing every problem, a missing model provider included), and the host shows it instead
of registering half an app.

Registered, with the Azure Functions agents runtime's names: each trigger agent as the
function ``<slug>`` (:mod:`.triggers`, :mod:`.http`), each agent's built-in endpoints as
``agent_<slug>_builtin_chat_page`` / ``_chat`` / ``_chatstream`` / ``_history``
(:mod:`.http`) and ``agent_<slug>_builtin_mcp`` (:mod:`.mcp`); agentdown's OpenAI-compatible
API as ``agentdown_openai_v1``, the Agents REST API as ``agentdown_agents_api``, graph
runs as ``agentdown_workflow_runs`` (:mod:`.http`); the durable queues' consumers as the
queue functions ``agentdown_runs``, ``agentdown_ingest``, ``agentdown_workflows`` and
``agentdown_workflow_steps`` (:mod:`.jobs`), and each served queue tool as
``agentdown_queue_tool_<name>`` (:mod:`.queue_tools`). Sessions: see
:mod:`agentdown.sessions.select` (``select_store``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import azure.functions as func

from agentdown.app.catalog import AgentCatalog, check_app
from agentdown.app.diagnostics import LOAD_LOGGER, AppLoadError
from agentdown.app.spec import AgentSpec, HttpTrigger
from agentdown.exceptions import ConfigurationError
from agentdown.hosting.http import (
    register_agents_api,
    register_builtin_endpoints,
    register_http_trigger,
    register_openai_api,
    register_workflow_runs,
)
from agentdown.hosting.jobs import has_graphs, register_job_functions
from agentdown.hosting.mcp import register_mcp_tool
from agentdown.hosting.queue_tools import register_queue_tools
from agentdown.hosting.settings import app_root as resolve_app_root
from agentdown.hosting.settings import http_streaming, max_dequeue_count
from agentdown.hosting.state import HostedApp
from agentdown.hosting.triggers import register_trigger

if TYPE_CHECKING:
    from agentdown.models.base import ChatModel

__all__ = ["create_function_app"]

logger = logging.getLogger("agentdown.hosting")


def create_function_app(
    app_root: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    model: ChatModel | None = None,
) -> func.FunctionApp:
    """The ``FunctionApp`` serving the app folder at ``app_root`` (see the module docstring).

    ``environ`` (default: the process environment) feeds ``$VAR`` substitution, the model
    provider and the storage settings; ``model`` replaces every agent's model (tests).
    """
    env = dict(os.environ if environ is None else environ)
    # Chat turns only queue workflow steps here; the queue function agentdown_workflows runs them.
    env["AGENTDOWN_WORKFLOW_EXECUTE"] = "false"
    root = resolve_app_root(app_root, env)
    # A file whose ingestion keeps failing is marked failed on its last delivery, before the
    # host moves the job to the poison queue (the sweep would requeue a file left in progress).
    env.setdefault("AGENTDOWN_INGEST_MAX_ATTEMPTS", str(max(1, max_dequeue_count(root) - 1)))
    catalog = _load(root, env, model)
    streaming = http_streaming(env)
    if streaming:
        _check_streaming_settings(env)
    hosted = HostedApp(catalog, env, http_streaming=streaming)
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    _check_routes(catalog.specs.values())
    names: list[str] = []
    for spec in catalog.specs.values():
        if isinstance(spec.trigger, HttpTrigger):
            names.append(register_http_trigger(app, hosted, spec, spec.trigger))
        elif spec.trigger is not None or spec.functions_trigger is not None:
            names.append(register_trigger(app, hosted, spec))
        names += register_builtin_endpoints(app, hosted, spec)
        if spec.builtin_endpoints.mcp:
            names.append(register_mcp_tool(app, hosted, spec))
    openai = register_openai_api(app, hosted, list(catalog.specs.values()))
    names += [openai] if openai else []
    names.append(register_agents_api(app, hosted))
    graphs = has_graphs(root)
    if graphs:
        names.append(register_workflow_runs(app, hosted))
    workflows = any(s.workflows is not None and s.workflows.enabled for s in catalog.specs.values())
    names += register_job_functions(app, hosted, workflows=workflows, graphs=graphs)
    names += register_queue_tools(app, hosted)
    app.agentdown = hosted  # type: ignore[attr-defined]  # tests and embedders close it
    logger.info(
        "agentdown: %d function(s) for %d agent(s) of %s (HTTP %s): %s",
        len(names),
        len(catalog),
        root,
        "streamed" if streaming else "buffered",
        ", ".join(names),
    )
    return app


def _check_streaming_settings(env: Mapping[str, str]) -> None:
    """The app imported the streaming extension itself: say so when the worker will not serve it."""
    flag = env.get("PYTHON_ENABLE_INIT_INDEXING", "").strip().lower()
    if flag not in ("1", "true") and sys.version_info < (3, 13):
        logger.warning(
            "agentdown: the HTTP streaming extension is imported but PYTHON_ENABLE_INIT_INDEXING is "
            "not 1; the Python worker serves HTTP streams only with it (docs/azure-functions.md)"
        )


def _load(root: Path, env: Mapping[str, str], model: ChatModel | None) -> AgentCatalog:
    """The checked catalog; every agent's model resolved too, so a missing provider fails here."""
    catalog, problems = check_app(root, environ=env, model=model, require_model=True)
    if catalog is None:
        raise AppLoadError(problems)
    load_log = logging.getLogger(LOAD_LOGGER)
    for problem in problems.warnings:
        load_log.warning("%s", problem, extra={"problem": problem})
    return catalog


def _check_routes(specs: Iterable[AgentSpec]) -> None:
    """HTTP-trigger routes that clash or that the host reserves fail here, not at a request."""
    triggers = [(s, s.trigger) for s in specs if isinstance(s.trigger, HttpTrigger)]
    if not triggers:
        return
    from agentdown.server.routes import starlette_path

    taken: dict[tuple[str, str], str] = {}
    for spec, trigger in triggers:
        where = f"{spec.file}:{spec.line_of('trigger')}"
        shape = re.sub(r"\{[^}]*\}", "{}", starlette_path(trigger.route, where))
        for method in trigger.methods:
            if (shape, method) in taken:
                raise ConfigurationError(
                    f"{where}: {method} /{trigger.route} is already the route of agent '{taken[shape, method]}'"
                )
            taken[shape, method] = spec.slug
