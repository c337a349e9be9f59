"""The function side: serve ``tools/`` tools as queue functions (``agentdown worker APP --queue-tools``).

Each served tool reads its input queue with the queue trigger's listener
(:class:`~agentdown.runtime.triggers.queue.QueueListener`: leases renewed while the
tool runs, a dead server's message delivered again, poison after
``AGENTDOWN_QUEUE_MAX_DEQUEUE_COUNT`` deliveries). Per message: the body must be a
JSON object with a ``CorrelationId`` (else it is poisoned at once); the other keys are
the arguments, validated against the tool's schema; the tool runs (sync tools in a
thread) and ``{"Value": result, "CorrelationId": same}`` goes to the output queue. A
tool error or invalid arguments become a ``Value`` the model can read ("Error: ...");
only a failure to *reply* makes the message fail and come back (at least once: the
tool may then run again, and the caller ignores a second reply).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from agentdown import telemetry
from agentdown.app.catalog import AgentCatalog
from agentdown.app.spec import QueueTrigger
from agentdown.exceptions import ConfigurationError
from agentdown.messages import Content
from agentdown.runtime.queue_tools.replies import CORRELATION_KEY
from agentdown.runtime.queues.base import MessageQueue, QueueService, poison_queue_name, validate_queue_name
from agentdown.runtime.queues.config import (
    DEFAULT_CONNECTION,
    StorageAccount,
    open_queue_service,
    resolve_account,
)
from agentdown.runtime.triggers.invoke import TriggerBinding
from agentdown.runtime.triggers.queue import PoisonMessageError, QueueListener
from agentdown.runtime.triggers.settings import TriggerSettings
from agentdown.tools.invocation import invoke_tool_call
from agentdown.tools.protocol import Tool
from agentdown.tools.results import serialize_result

__all__ = ["QueueFunctionHost", "ServedTool", "answer_call", "served_tools"]

logger = logging.getLogger("agentdown.queue_tools")


@dataclass(frozen=True, slots=True)
class ServedTool:
    """One tool served on one input queue."""

    tool: Tool
    input_queue: str
    output_queue: str
    connection: str = DEFAULT_CONNECTION
    encoding: Literal["base64", "none"] = "base64"

    def __str__(self) -> str:
        return f"{self.tool.name}: {self.input_queue} -> {self.output_queue} ({self.connection})"


def served_tools(
    catalog: AgentCatalog,
    *,
    tool: str | None = None,
    input_queue: str | None = None,
    output_queue: str | None = None,
    connection: str | None = None,
) -> list[ServedTool]:
    """What to serve: the app's ``queue_tools`` declarations whose name is a ``tools/`` tool, or
    the one ``tool`` (the only tool when the app has one) on ``input_queue`` / ``output_queue``."""
    tools = {t.name: t.tool for t in catalog.tools if not t.is_toolset}
    if input_queue is not None or output_queue is not None:
        if input_queue is None or output_queue is None:
            raise ConfigurationError("--input-queue and --output-queue go together")
        name = tool or (next(iter(tools)) if len(tools) == 1 else None)
        if name is None or name not in tools:
            known = ", ".join(tools) or "none"
            raise ConfigurationError(f"name the tool to serve with --tool (the app's tools: {known})")
        for queue in (input_queue, output_queue):
            validate_queue_name(queue)
        served = tools[name]
        assert isinstance(served, Tool)
        return [ServedTool(served, input_queue, output_queue, connection or DEFAULT_CONNECTION)]
    declared = [*catalog.config.queue_tools, *(q for s in catalog.specs.values() for q in s.queue_tools)]
    out: dict[tuple[Any, ...], ServedTool] = {}
    for spec in declared:
        found = tools.get(spec.name)
        if found is None or (tool is not None and spec.name != tool):
            continue
        assert isinstance(found, Tool)
        entry = ServedTool(
            found, spec.input_queue, spec.output_queue, connection or spec.connection, spec.encoding
        )
        out.setdefault((spec.name, entry.input_queue, entry.connection), entry)
    if not out:
        names = sorted({q.name for q in declared})
        raise ConfigurationError(
            "nothing to serve: no queue_tools declaration names a tools/ function "
            f"(declared: {', '.join(names) or 'none'}; tools/: {', '.join(tools) or 'none'}); "
            "or give --tool with --input-queue and --output-queue"
        )
    return list(out.values())


class _Function:
    """Handles one input message of a served tool (see the module docstring)."""

    def __init__(self, served: ServedTool, output: MessageQueue) -> None:
        self.served = served
        self.output = output

    async def __call__(self, data: Mapping[str, Any]) -> None:
        reply = await answer_call(self.served.tool, data, queue=self.served.input_queue)
        await self.output.send(reply)  # a failure here fails the message: it comes back


async def answer_call(tool: Tool, data: Mapping[str, Any], *, queue: str) -> str:
    """The reply text to one input message (its trigger data): ``{"Value", "CorrelationId"}``.

    Shared by ``agentdown worker --queue-tools`` and the queue functions of
    ``create_function_app()`` (which send it through a ``queue_output`` binding). Raises
    :class:`PoisonMessageError` for a body that is no call (see the module docstring).
    """
    body = data.get("body_json")
    cid = body.get(CORRELATION_KEY) if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(cid, str) or not cid:
        raise PoisonMessageError("it is not a JSON object with a CorrelationId string")
    # The caller's trace context rides in the body (when its telemetry is on); it is
    # not an argument, unless the tool declares a parameter of that name.
    arguments, carrier = telemetry.strip(
        {k: v for k, v in body.items() if k != CORRELATION_KEY},
        keep=tool.parameters.get("properties", {}),
    )
    with telemetry.span(
        f"process {queue}",
        {"messaging.operation.type": "process", "messaging.destination.name": queue},
        kind=telemetry.SpanKind.CONSUMER,
        parent=telemetry.extract(carrier),
    ):
        outcome = await invoke_tool_call(tool, Content.from_tool_call(tool.name, arguments, call_id=cid))
    value = outcome.result.text if outcome.exception is not None else _json_value(outcome.value)
    logger.info("%s answered call %s%s", tool.name, cid, " (with an error)" if outcome.exception else "")
    return json.dumps({"Value": value, CORRELATION_KEY: cid}, ensure_ascii=False)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    text, _ = serialize_result(value)
    try:
        return json.loads(text)
    except ValueError:
        return text


class QueueFunctionHost:
    """Runs one queue listener per served tool until :meth:`stop`."""

    def __init__(
        self,
        served: Sequence[ServedTool],
        *,
        environ: Mapping[str, str] | None = None,
        concurrency: int | None = None,
    ) -> None:
        settings = TriggerSettings.from_environ(environ)
        if concurrency is not None:
            settings = replace(settings, concurrency=concurrency)
        self.settings = settings
        self.served = tuple(served)
        self._accounts = [resolve_account(s.connection, environ) for s in self.served]
        self._services: dict[tuple[Any, ...], QueueService] = {}
        self._listeners: list[QueueListener] = []
        self._tasks: list[asyncio.Task[None]] = []

    def describe(self) -> list[str]:
        return [f"{s} on {a.describe()}" for s, a in zip(self.served, self._accounts, strict=True)]

    def _service(self, account: StorageAccount, encoding: Literal["base64", "none"]) -> QueueService:
        key = (account.kind, account.data_dir, account.connection_string, account.queue_url, encoding)
        if key not in self._services:
            self._services[key] = open_queue_service(account, encoding=encoding)
        return self._services[key]

    async def start(self) -> None:
        for served, account in zip(self.served, self._accounts, strict=True):
            inputs = self._service(account, self.settings.message_encoding)
            output = self._service(account, served.encoding).queue(served.output_queue)
            await output.create()
            listener = QueueListener(
                TriggerBinding(
                    f"queue function {served.tool.name}", QueueTrigger(served.input_queue, served.connection)
                ),
                _Function(served, output),
                self.settings,
                self.settings.concurrency,
                queue=inputs.queue(served.input_queue),
                poison=inputs.queue(poison_queue_name(served.input_queue)),
                polling_interval=self.settings.polling_interval(inputs.kind),
            )
            await listener.start()
            self._listeners.append(listener)
        self._tasks = [asyncio.create_task(listener.run()) for listener in self._listeners]

    async def stop(self, timeout: float | None = None) -> None:
        grace = self.settings.drain_seconds if timeout is None else timeout
        for listener in self._listeners:
            listener.request_stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(listener.drain(grace) for listener in self._listeners))
        for service in self._services.values():
            await service.aclose()
        self._services.clear()
