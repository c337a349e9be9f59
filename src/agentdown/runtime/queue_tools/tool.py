"""``QueueTool``: a tool whose calls go to an input queue and whose answers come back on an output queue.

>>> weather = QueueTool("GetWeather", "Weather of a city.", {"type": "object", "properties":
...     {"city": {"type": "string"}}, "required": ["city"]},
...     input_queue="weather-input", output_queue="weather-output")
>>> agent = Agent(model, tools=[weather])

A call puts the arguments plus ``CorrelationId`` on ``input_queue`` (base64 by default)
and waits for ``{"Value", "CorrelationId"}`` on ``output_queue``; ``Value`` is the tool
result. No reply within ``timeout`` seconds is a tool result the model reads
(``ToolError``). For callers that must survive a crash between sending and receiving
(the Agents API's durable runs), :meth:`send` and :meth:`wait` are separate:

>>> cid = weather.correlation_id(deadline)        # record it with the run, then
>>> await weather.send({"city": "Oslo"}, cid)      # put the call on the input queue
>>> value = await weather.wait(cid, deadline)      # any process may wait, also after a takeover
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from agentdown.exceptions import ConfigurationError, ToolError
from agentdown.runtime.queue_tools import shared
from agentdown.runtime.queue_tools.ids import new_correlation_id
from agentdown.runtime.queue_tools.replies import call_body
from agentdown.runtime.queues.base import poison_queue_name, validate_queue_name
from agentdown.runtime.queues.config import DEFAULT_CONNECTION, StorageAccount, resolve_account
from agentdown.tools.protocol import check_tool_name

if TYPE_CHECKING:
    from agentdown.tools.context import FunctionInvocationContext

__all__ = ["QueueTool", "QueueToolTimeoutError"]


class QueueToolTimeoutError(ToolError):
    """No reply came before the call's deadline; the message is what the model reads."""


class QueueTool:
    """A tool answered through storage queues (see the module docstring); satisfies the Tool protocol.

    ``connection`` names a setting as everywhere else (a connection string,
    ``UseDevelopmentStorage=true``, a service URL, or ``X__queueServiceUri`` +
    ``X__clientId``), read from ``environ`` (default: the process environment); with
    none set, the embedded queue. ``account`` replaces it (the Agents API's
    ``queue_service_endpoint``, see :func:`~.endpoints.account_for_endpoint`).
    ``timeout=None``: no deadline of its own; the call waits until cancelled.
    """

    kind = "queue"

    def __init__(
        self,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        *,
        input_queue: str,
        output_queue: str,
        connection: str = DEFAULT_CONNECTION,
        timeout: float | None = 60.0,
        encoding: Literal["base64", "none"] = "base64",
        environ: Mapping[str, str] | None = None,
        account: StorageAccount | None = None,
    ) -> None:
        self.name = check_tool_name(name, "a queue tool")
        self.description = description
        self._parameters = dict(parameters)
        try:
            self.input_queue = validate_queue_name(input_queue)
            self.output_queue = validate_queue_name(output_queue)
            poison_queue_name(output_queue)
        except ValueError as exc:
            raise ConfigurationError(f"queue tool '{name}': {exc}") from None
        if timeout is not None and not timeout > 0:
            raise ConfigurationError(
                f"queue tool '{name}': timeout must be > 0 seconds or None, got {timeout}"
            )
        if encoding not in ("base64", "none"):
            raise ConfigurationError(
                f"queue tool '{name}': encoding must be base64 or none, got {encoding!r}"
            )
        self.timeout = timeout
        self.encoding: Literal["base64", "none"] = encoding
        self.connection = connection
        self.account = account if account is not None else resolve_account(connection, environ)

    def __repr__(self) -> str:
        return (
            f"QueueTool({self.name!r}, input_queue={self.input_queue!r}, output_queue={self.output_queue!r}, "
            f"{self.account.describe()})"
        )

    @property
    def parameters(self) -> dict[str, Any]:
        return self._parameters

    # -- the Tool protocol --------------------------------------------------------------------------

    async def invoke(
        self, arguments: dict[str, Any], context: FunctionInvocationContext | None = None
    ) -> Any:
        """Send the call and wait for its reply; ``Value`` is the result."""
        deadline = None if self.timeout is None else time.time() + self.timeout
        cid = await self.send(arguments, deadline=deadline)
        return await self.wait(cid, deadline)

    # -- the parts, for durable callers ------------------------------------------------------------

    def correlation_id(self, deadline: float | None = None) -> str:
        """A new correlation id naming this process and ``deadline`` (unix seconds; ``None``: none).

        Any string works as an id; one made here lets every reader of the output queue
        drop a reply nobody can want any more (its deadline passed) instead of passing
        it around until :data:`~.router.UNCLAIMED_TTL`.
        """
        return new_correlation_id(_owner_hint(), deadline)

    async def send(
        self,
        arguments: Mapping[str, Any],
        correlation_id: str | None = None,
        *,
        deadline: float | None = None,
    ) -> str:
        """Put the call on the input queue; its correlation id.

        The reply is expected from then on in this process (a reply arriving before
        :meth:`wait` is kept for it), so call :meth:`wait` or :meth:`forget` afterwards.
        """
        cid = correlation_id or await self._new_id(deadline)
        router = await self._router()
        router.expect(cid)
        try:
            queue = await shared.queue_of(self.account, self.input_queue, self.encoding)
            await queue.send(call_body(arguments, cid))
        except BaseException:
            router.forget(cid, "its call could not be sent")
            raise
        return cid

    async def wait(self, correlation_id: str, deadline: float | None = None) -> Any:
        """The ``Value`` replied to ``correlation_id`` (sent by this or any other process).

        ``deadline`` (unix seconds) bounds the wait: past it :class:`QueueToolTimeoutError`.
        ``None``: wait until cancelled (the Agents API's runs end at their ``expires_at``).
        """
        router = await self._router()
        future = router.expect(correlation_id)
        remaining = None if deadline is None else max(0.0, deadline - time.time())
        try:
            value = await asyncio.wait_for(asyncio.shield(future), remaining)
        except TimeoutError:
            router.forget(correlation_id, "it arrived after its call timed out (a late reply)")
            raise QueueToolTimeoutError(self._timeout_text(deadline)) from None
        except asyncio.CancelledError:
            if not future.done():
                router.forget(correlation_id, "it arrived after its call was cancelled")
            raise
        router.collect(correlation_id)
        return value

    async def forget(self, correlation_id: str) -> None:
        """Stop expecting a reply to ``correlation_id`` in this process (it is dropped if it comes)."""
        (await self._router()).forget(correlation_id, "its call was abandoned")

    async def aclose(self) -> None:
        """Close this event loop's shared queue clients and readers, unless a call still waits.

        They are shared by every queue tool of the loop (and reopened on the next call);
        :func:`~agentdown.runtime.queue_tools.aclose_shared` closes them regardless.
        """
        await shared.aclose_idle()

    # -- helpers ------------------------------------------------------------------------------------

    async def _router(self) -> Any:
        return await shared.router_of(self.account, self.output_queue)

    async def _new_id(self, deadline: float | None) -> str:
        router = await self._router()
        return new_correlation_id(router.owner, deadline)

    def _timeout_text(self, deadline: float | None) -> str:
        seconds = self.timeout if self.timeout is not None else 0
        return f"{self.name} did not answer within {seconds:g} s"


def _owner_hint() -> str:
    # Outside the loop there is no router yet: "x" owns nothing, so only the deadline counts.
    return "x"
