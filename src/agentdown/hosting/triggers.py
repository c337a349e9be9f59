"""Non-HTTP trigger agents: one function ``<slug>`` through the ``FunctionApp`` decorator of its type.

``timer_trigger``, ``queue_trigger`` and ``blob_trigger`` come from the loaded trigger (the
schedule already six fields); every other type (``service_bus_queue_trigger``,
``event_hub_message_trigger``, ``event_grid_trigger``, ``cosmos_db_trigger``, ...) is
``getattr(app, type)(arg_name=..., **args)`` as written; ``connector_trigger`` falls back
to ``generic_trigger(type="connectorTrigger")`` on packages without it. The bound object
becomes the documented trigger data (:mod:`.payloads`) and runs through agentdown's trigger
invoker: the contract prompt, a new session (or the ``session_key`` one), the ``output``
binding, the log line; a failed run raises, so the host retries and poisons as it does.
"""

# No `from __future__ import annotations`: the worker must see `trigger_data` unannotated
# (it checks annotations against the binding's type, and one handler serves every type).

import logging
from typing import Any

import azure.functions as func

from agentdown.app.spec import AgentSpec, BlobTrigger, QueueTrigger, TimerTrigger
from agentdown.app.triggers import trigger_prompt
from agentdown.exceptions import ConfigurationError
from agentdown.hosting.payloads import trigger_data as trigger_data_of
from agentdown.hosting.state import HostedApp

__all__ = ["register_trigger"]

logger = logging.getLogger("agentdown.hosting")
_ARG = "trigger_data"


def _decorator(app: func.FunctionApp, spec: AgentSpec) -> tuple[str, Any]:
    """``(type, decorator)`` registering ``spec``'s trigger."""
    trigger = spec.trigger
    if isinstance(trigger, TimerTrigger):
        args: dict[str, Any] = {"schedule": trigger.schedule, "run_on_startup": trigger.run_on_startup}
        args["use_monitor"] = trigger.use_monitor
        return trigger.type, app.timer_trigger(arg_name=_ARG, **args)
    if isinstance(trigger, QueueTrigger):
        return trigger.type, app.queue_trigger(
            arg_name=_ARG, queue_name=trigger.queue_name, connection=trigger.connection
        )
    if isinstance(trigger, BlobTrigger):
        extra: dict[str, Any] = {"source": trigger.source} if trigger.source else {}
        return trigger.type, app.blob_trigger(
            arg_name=_ARG, path=trigger.path, connection=trigger.connection, **extra
        )
    functions = spec.functions_trigger
    assert functions is not None
    kind, args = functions.type, dict(functions.arguments)
    decorate = getattr(app, kind, None)
    if decorate is None and kind == "connector_trigger":
        decorate = app.generic_trigger
        args.setdefault("type", "connectorTrigger")
    if decorate is None or not callable(decorate):
        raise ConfigurationError(
            f"{spec.file}:{spec.line_of('trigger')}: trigger type '{kind}' is not a decorator of "
            f"azure.functions.FunctionApp {getattr(func, '__version__', '')}; upgrade azure-functions"
        )
    try:
        return kind, decorate(arg_name=_ARG, **args)
    except TypeError as exc:
        raise ConfigurationError(
            f"{spec.file}:{spec.line_of('trigger')}: trigger.args of {kind}: {exc}"
        ) from exc


def register_trigger(app: func.FunctionApp, hosted: HostedApp, spec: AgentSpec) -> str:
    """The function ``<slug>`` running ``spec`` once per event; its name."""
    kind, decorate = _decorator(app, spec)
    slug = spec.slug

    async def handler(trigger_data):  # type: ignore[no-untyped-def]
        data = trigger_data_of(trigger_data)
        if isinstance(data, dict):
            captures = _blob_captures(spec, data)
            await (await hosted.invoker(slug))(data, captures)
        else:  # a batch (Cosmos DB, SQL changes): the list itself is the trigger data, as there
            await hosted.runner.run(slug, trigger_prompt(kind, data))

    handler.__name__ = f"agent_{slug}_{kind}"
    app.function_name(name=slug)(decorate(handler))
    return slug


def _blob_captures(spec: AgentSpec, data: dict[str, Any]) -> dict[str, str]:
    """A blob's path captures (``{name}`` of ``uploads/{name}``), added to its data as ``serve`` does."""
    if not isinstance(spec.trigger, BlobTrigger) or not isinstance(data.get("name"), str):
        return {}
    from agentdown.app.bindings import PathPattern

    container, _, inner = data["name"].partition("/")
    captures = PathPattern(spec.trigger.path).match(inner) or {}
    data.update(container=container, blob_name=inner, path_bindings=captures)
    return captures
