"""Spans: started only when telemetry is on, nested through the OpenTelemetry context.

Every helper returns ``None`` (or a shared null context) when telemetry is off, so a call
site pays one function call. Async generators (the run loop, a model stream) must not keep
a context attached across a ``yield``: the consumer may resume them from another context,
and detaching would then fail. :func:`traced_generator` attaches the span only while the
generator runs, once per step, which is what gives tool and model spans their parent.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentdown.telemetry._state import active

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

__all__ = [
    "SpanKind",
    "current",
    "end_span",
    "fail_span",
    "span",
    "start_span",
    "traced_generator",
]

T = TypeVar("T")

_NULL: contextlib.nullcontext[None] = contextlib.nullcontext()


def _clean(attributes: Mapping[str, Any]) -> dict[str, AttributeValue]:
    return {k: v for k, v in attributes.items() if v is not None and v != ""}


def start_span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
) -> Span | None:
    """A started span (not made current), or ``None`` when telemetry is off.

    ``parent`` is the context to nest under (default: the current one). ``None`` values in
    ``attributes`` are left out.
    """
    current = active()
    if current is None:
        return None
    return current.tracer.start_span(name, parent, kind, _clean(attributes or {}))


def fail_span(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed with the conventions' ``error.type`` (the exception's class name).

    The message is not recorded: it may quote a tool's arguments or a prompt (content).
    """
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))


def end_span(span: Span, attributes: Mapping[str, Any] | None = None) -> None:
    """Set the final ``attributes`` (``None`` values left out) and end ``span``."""
    if attributes:
        span.set_attributes(_clean(attributes))
    span.end()


@contextlib.contextmanager
def _current_span(s: Span) -> Iterator[Span]:
    token = otel_context.attach(trace.set_span_in_context(s))
    try:
        yield s
    except BaseException as exc:
        if not isinstance(exc, GeneratorExit):
            fail_span(s, exc)
        raise
    finally:
        otel_context.detach(token)
        s.end()


def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """``with span(...) as s:``: a current span for the block (``s`` is ``None`` when off).

    An exception leaving the block sets ``error.type`` and the error status. For plain
    coroutines and functions only; see :func:`traced_generator` for async generators.
    """
    s = start_span(name, attributes, kind=kind, parent=parent)
    return _NULL if s is None else _current_span(s)


async def traced_generator(
    events: AsyncGenerator[T, None],
    s: Span,
    on_item: Callable[[Span, T], None] | None = None,
    *,
    started: float | None = None,
    on_end: Callable[[Span, float, BaseException | None], None] | None = None,
) -> AsyncGenerator[T, None]:
    """Yield ``events``' items with ``s`` current while the generator computes each one.

    ``on_item`` sees every item (to set attributes from a final one). When the generator is
    done, failed or closed, ``on_end`` gets the seconds since ``started`` (default: now) and
    the exception (``None`` when it finished or was closed) and must end ``s``; without
    ``on_end``, ``s`` just ends.
    """
    t0 = time.perf_counter() if started is None else started
    ctx = trace.set_span_in_context(s)
    error: BaseException | None = None
    try:
        while True:
            token = otel_context.attach(ctx)
            try:
                item = await anext(events)
            except StopAsyncIteration:
                return
            finally:
                otel_context.detach(token)
            if on_item is not None:
                on_item(s, item)
            yield item
    except BaseException as exc:
        if not isinstance(exc, GeneratorExit):
            error = exc
            fail_span(s, exc)
        raise
    finally:
        await events.aclose()
        if on_end is not None:
            on_end(s, time.perf_counter() - t0, error)
        else:
            s.end()


@contextlib.contextmanager
def current(s: Span) -> Iterator[Span]:
    """Make ``s`` current for the block without ending it (the caller ends it)."""
    token = otel_context.attach(trace.set_span_in_context(s))
    try:
        yield s
    finally:
        otel_context.detach(token)
