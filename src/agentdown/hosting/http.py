"""HTTP functions: the built-in chat endpoints and ``http_trigger`` agents.

Names and routes are the Azure Functions agents runtime's: ``agent_<slug>_builtin_chat_page``
(``GET agents/<slug>/``, anonymous), ``_chat`` (``POST agents/<slug>/chat``), ``_chatstream``
(``POST agents/<slug>/chatstream``), ``_history`` (``GET agents/<slug>/history``); an
``http_trigger`` agent is the function ``<slug>`` on its own route and methods. Auth levels
come from ``http_auth`` (``entra`` is ``anonymous`` for the host: App Service
Authentication checks the caller, the handler its principal).

With planned workflows also ``_workflows`` (``GET agents/<slug>/workflows``) and
``_workflow_status`` (``GET agents/<slug>/workflow-status``).

agentdown adds ``agentdown_openai_v1`` (``v1/{*path}``: its OpenAI-compatible API),
``agentdown_agents_api`` (``api/projects/{project}/{*path}``: the Azure AI Agents REST
API; its runs are executed by the queue function ``agentdown_runs``, see :mod:`.jobs`)
and, with ``workflows/`` graphs, ``agentdown_workflow_runs`` (``workflows/{name}/runs``
and below).

Every handler passes the request to agentdown's own Starlette handlers (the same code as
``agentdown serve``: body checks, pending turns, error shapes, SSE frames). When the worker
serves HTTP streams (``hosted.http_streaming``, see :mod:`.settings`) the handlers take the
``azurefunctions-extensions-http-fastapi`` types and stream (:mod:`.http_v2`); otherwise
they take ``func.HttpRequest`` through the package's ``AsgiMiddleware``, which buffers:
``chatstream`` then answers the whole event stream as one body once the run ends.
"""

# No `from __future__ import annotations` here: the Python worker reads the handlers'
# annotations (HttpRequest in, HttpResponse out) as real types.

import azure.functions as func

from agentdown.app.spec import AgentSpec, HttpAuth, HttpTrigger
from agentdown.hosting.state import HostedApp

__all__ = [
    "AGENTS_API_FUNCTION",
    "OPENAI_FUNCTION",
    "WORKFLOW_RUNS_FUNCTION",
    "auth_level",
    "register_agents_api",
    "register_builtin_endpoints",
    "register_http_trigger",
    "register_openai_api",
    "register_workflow_runs",
]

OPENAI_FUNCTION = "agentdown_openai_v1"
AGENTS_API_FUNCTION = "agentdown_agents_api"
WORKFLOW_RUNS_FUNCTION = "agentdown_workflow_runs"

_LEVELS = {
    "function": func.AuthLevel.FUNCTION,
    "admin": func.AuthLevel.ADMIN,
    "anonymous": func.AuthLevel.ANONYMOUS,
    "entra": func.AuthLevel.ANONYMOUS,
}


def auth_level(auth: HttpAuth) -> func.AuthLevel:
    return _LEVELS.get(auth.mode, func.AuthLevel.FUNCTION)


def _through_asgi(hosted: HostedApp, name: str) -> object:
    if hosted.http_streaming:
        from agentdown.hosting.http_v2 import asgi_handler

        return asgi_handler(lambda: hosted.app, name)

    async def handler(req: func.HttpRequest) -> func.HttpResponse:
        response: func.HttpResponse = await hosted.asgi.handle_async(req)
        return response

    handler.__name__ = name
    return handler


def _chat_page(hosted: HostedApp, spec: AgentSpec) -> object:
    if hosted.http_streaming:
        from agentdown.hosting.http_v2 import chat_page_handler

        return chat_page_handler(spec)

    def agent_chat_page(req: func.HttpRequest) -> func.HttpResponse:
        from agentdown.server.page import render_page

        # The host asks function-level callers for a key, so the page asks for one too.
        html, policy = render_page(spec, key_needed=spec.http_auth.mode in ("function", "admin"))
        return func.HttpResponse(
            html,
            mimetype="text/html",
            charset="utf-8",
            headers={"content-security-policy": policy, "cache-control": "no-store"},
        )

    return agent_chat_page


def register_builtin_endpoints(app: func.FunctionApp, hosted: HostedApp, spec: AgentSpec) -> list[str]:
    """The chat page / chat / chatstream / history functions ``spec`` asks for; their names."""
    endpoints = spec.builtin_endpoints
    base = f"agent_{spec.slug}_builtin"
    level = auth_level(spec.http_auth)
    names: list[str] = []
    if endpoints.debug_chat_ui:
        page = app.route(route=f"agents/{spec.slug}/", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
        app.function_name(name=f"{base}_chat_page")(page(_chat_page(hosted, spec)))
        names.append(f"{base}_chat_page")
    if endpoints.chat_api:
        for suffix, method in (("chat", "POST"), ("chatstream", "POST"), ("history", "GET")):
            name = f"{base}_{suffix}"
            route = app.route(route=f"agents/{spec.slug}/{suffix}", methods=[method], auth_level=level)
            app.function_name(name=name)(route(_through_asgi(hosted, name)))
            names.append(name)
        if spec.workflows is not None and spec.workflows.enabled:
            for suffix, path in (("workflows", "workflows"), ("workflow_status", "workflow-status")):
                name = f"{base}_{suffix}"
                route = app.route(route=f"agents/{spec.slug}/{path}", methods=["GET"], auth_level=level)
                app.function_name(name=name)(route(_through_asgi(hosted, name)))
                names.append(name)
    return names


def register_http_trigger(
    app: func.FunctionApp, hosted: HostedApp, spec: AgentSpec, trigger: HttpTrigger
) -> str:
    """The function ``<slug>`` answering ``trigger``'s route (input schema, structured answers)."""
    route = app.route(
        route=trigger.route.strip("/"),
        methods=list(trigger.methods),
        auth_level=auth_level(trigger.http_auth),
    )
    app.function_name(name=spec.slug)(route(_through_asgi(hosted, spec.slug)))
    return spec.slug


_RANK = {"anonymous": 0, "entra": 0, "function": 1, "admin": 2}


def register_openai_api(app: func.FunctionApp, hosted: HostedApp, specs: list[AgentSpec]) -> str | None:
    """agentdown's OpenAI-compatible API (``v1/models``, ``v1/chat/completions``) as one function.

    The host checks one key level for the whole route, so it is the strictest of the
    agents' (``entra`` agents' principals are checked per call, as on ``serve``).
    """
    exposed = [s for s in specs if s.builtin_endpoints.chat_api]
    if not exposed:
        return None
    rank = max(_RANK.get(s.http_auth.mode, 1) for s in exposed)
    level = (func.AuthLevel.ANONYMOUS, func.AuthLevel.FUNCTION, func.AuthLevel.ADMIN)[rank]
    route = app.route(route="v1/{*path}", methods=["GET", "POST"], auth_level=level)
    app.function_name(name=OPENAI_FUNCTION)(route(_through_asgi(hosted, OPENAI_FUNCTION)))
    return OPENAI_FUNCTION


def _app_level(hosted: HostedApp) -> func.AuthLevel:
    """The app's default ``http_auth`` (``agents.config.yaml``, else ``function``), as ``serve``'s door."""
    auth = hosted.catalog.config.http_auth or HttpAuth()
    return auth_level(auth)


def register_agents_api(app: func.FunctionApp, hosted: HostedApp) -> str:
    """The Azure AI Agents REST API (assistants, threads, runs, files, vector stores) as one function."""
    route = app.route(
        route="api/projects/{project}/{*path}",
        methods=["GET", "POST", "DELETE"],
        auth_level=_app_level(hosted),
    )
    app.function_name(name=AGENTS_API_FUNCTION)(route(_through_asgi(hosted, AGENTS_API_FUNCTION)))
    return AGENTS_API_FUNCTION


def register_workflow_runs(app: func.FunctionApp, hosted: HostedApp) -> str:
    """The ``workflows/`` graphs' runs (``POST/GET workflows/{name}/runs``, ``.../{run_id}``, ``/responses``)."""
    route = app.route(
        route="workflows/{name}/runs/{*rest}", methods=["GET", "POST"], auth_level=_app_level(hosted)
    )
    app.function_name(name=WORKFLOW_RUNS_FUNCTION)(route(_through_asgi(hosted, WORKFLOW_RUNS_FUNCTION)))
    return WORKFLOW_RUNS_FUNCTION
