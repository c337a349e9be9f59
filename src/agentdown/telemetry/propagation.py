"""W3C trace context in and out of agentdown: HTTP headers, queue messages, job records.

The carrier is a plain ``dict`` with ``traceparent`` (and ``tracestate`` when there is
one), the W3C names, so it is readable in a queue message or a stored job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Container, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from agentdown.telemetry._state import active

if TYPE_CHECKING:
    from opentelemetry.context import Context

__all__ = ["TRACEPARENT", "TRACE_KEYS", "extract", "inject", "strip", "use_carrier"]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_KEYS = (TRACEPARENT, TRACESTATE)

_PROPAGATOR = TraceContextTextMapPropagator()


def inject() -> dict[str, str]:
    """The current trace context as ``{"traceparent": ..., "tracestate": ...}``.

    Empty when telemetry is off or no span is current: nothing is added to messages then.
    """
    if active() is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, Any] | None) -> Context | None:
    """The context in ``carrier`` (only its string ``traceparent``/``tracestate`` are read).

    ``None`` when telemetry is off or there is no valid ``traceparent``: the caller then
    starts a new trace. An invalid header is ignored, as the W3C spec asks.
    """
    if not carrier or active() is None:
        return None
    found = {k: v for k in TRACE_KEYS if isinstance(v := carrier.get(k), str)}
    if TRACEPARENT not in found:
        return None
    ctx = _PROPAGATOR.extract(found)
    from opentelemetry import trace

    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def strip(body: Mapping[str, Any], keep: Container[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """``body`` without the trace keys, and those keys (for :func:`extract`).

    A trace key in ``keep`` (a tool parameter that happens to be called ``traceparent``)
    stays in the body and is not read as trace context.
    """
    found = {k: body[k] for k in TRACE_KEYS if k in body and k not in keep}
    if not found:
        return dict(body), found
    return {k: v for k, v in body.items() if k not in found}, found


def add_to(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` plus the current trace context's keys, those ``body`` does not already hold.

    ``body`` itself when telemetry is off (nothing added to the message then).
    """
    carrier = inject()
    if not carrier:
        return body
    return {**body, **{k: v for k, v in carrier.items() if k not in body}}


@contextlib.contextmanager
def use_carrier(carrier: Mapping[str, Any] | None) -> Iterator[None]:
    """Make the context in ``carrier`` current for the block (nothing when there is none)."""
    ctx = extract(carrier)
    if ctx is None:
        yield
        return
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)
