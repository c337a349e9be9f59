"""Queue tools served as queue functions: what ``agentdown worker APP --queue-tools`` serves.

Each ``queue_tools`` declaration (front matter or ``agents.config.yaml``) whose name is a
``tools/`` tool becomes the function ``agentdown_queue_tool_<name>``: a ``queueTrigger``
on its ``input_queue`` and a ``queue`` output binding on its ``output_queue``, both on
its ``connection``. Per message: the body's arguments and ``CorrelationId`` are read, the
tool runs, and ``{"Value", "CorrelationId"}`` is the output binding's value
(:func:`agentdown.runtime.queue_tools.server.answer_call`, the worker's own code). A
tool error is a ``Value`` ("Error: ..."); a body that is no call raises, so the host
poisons it after ``maxDequeueCount`` deliveries (the worker poisons it at once).

A declaration whose name is not a ``tools/`` tool is a call to a function served
elsewhere: the app's agents use it, nothing is registered for it. The message encoding
is the host's (``extensions.queues.messageEncoding`` in host.json, base64 by default) for
every queue of the app: a declaration's ``encoding: none`` needs ``messageEncoding: none``.
"""

# No `from __future__ import annotations`: the worker reads the handler's annotations.

import re
from typing import TYPE_CHECKING

import azure.functions as func

from agentdown.hosting.payloads import queue_message
from agentdown.hosting.state import HostedApp

if TYPE_CHECKING:
    from agentdown.tools.protocol import Tool

__all__ = ["register_queue_tools"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def _function(tool: "Tool", name: str, queue: str) -> object:
    async def queue_tool(msg: func.QueueMessage, reply: func.Out[str]) -> None:
        from agentdown.runtime.queue_tools.server import answer_call

        reply.set(await answer_call(tool, queue_message(msg).binding_data(), queue=queue))

    queue_tool.__name__ = name
    return queue_tool


def register_queue_tools(app: func.FunctionApp, hosted: HostedApp) -> list[str]:
    """A queue function per served queue tool (see the module docstring); their names."""
    catalog = hosted.catalog
    declared = [*catalog.config.queue_tools, *(q for s in catalog.specs.values() for q in s.queue_tools)]
    if not declared:
        return []
    from agentdown.exceptions import ConfigurationError
    from agentdown.runtime.queue_tools.server import served_tools

    try:
        served = served_tools(catalog)
    except ConfigurationError:  # every declaration calls a function served elsewhere
        return []
    names: list[str] = []
    for entry in served:
        name = "agentdown_queue_tool_" + _UNSAFE.sub("_", entry.tool.name)
        if name in names:  # one tool on two input queues
            name += "_" + _UNSAFE.sub("_", entry.input_queue)
        trigger = app.queue_trigger(arg_name="msg", queue_name=entry.input_queue, connection=entry.connection)
        output = app.queue_output(
            arg_name="reply", queue_name=entry.output_queue, connection=entry.connection
        )
        app.function_name(name=name)(trigger(output(_function(entry.tool, name, entry.input_queue))))
        names.append(name)
    return names
