"""Where telemetry goes: the tracer and meter in use, or nothing (the free, default case).

Three ways to turn it on, in order: :func:`install` with explicit providers (tests, embedders),
:func:`agentdown.telemetry.setup.configure_from_env` (``agentdown serve``/``worker`` with
``OTEL_*`` or ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set), or a global ``TracerProvider``
the user's own process set before running agents (adopted on first use). With none of them,
:func:`tracer` is one attribute read and returns ``None``, and every instrumented call site
skips its telemetry entirely: no span objects, not even the API's no-op ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace

from agentdown.version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter, MeterProvider
    from opentelemetry.trace import Tracer, TracerProvider

    from agentdown.telemetry.instruments import Instruments

__all__ = ["Telemetry", "active", "capture_content", "install", "uninstall"]

SCOPE = "agentdown"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI conventions' switch for prompts, completions, tool arguments and results."""


@dataclass(slots=True)
class Telemetry:
    """The tracer, meter and instruments of one installation."""

    tracer: Tracer
    meter: Meter
    instruments: Instruments
    capture_content: bool


_current: Telemetry | None = None
_explicit = False
"""``True`` once :func:`install` ran: a later global provider must not replace its choice."""


def _env_capture() -> bool:
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def install(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    *,
    capture_content: bool | None = None,
) -> Telemetry:
    """Send agentdown's telemetry to these providers (default: the global ones).

    ``capture_content`` defaults to ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
    """
    from agentdown.telemetry.instruments import Instruments

    global _current, _explicit
    tp = tracer_provider or trace.get_tracer_provider()
    mp = meter_provider or metrics.get_meter_provider()
    meter = mp.get_meter(SCOPE, __version__)
    _current = Telemetry(
        tracer=tp.get_tracer(SCOPE, __version__),
        meter=meter,
        instruments=Instruments(meter),
        capture_content=_env_capture() if capture_content is None else capture_content,
    )
    _explicit = True
    return _current


def uninstall() -> None:
    """Turn telemetry off again (a global provider set later is adopted as usual)."""
    global _current, _explicit
    _current, _explicit = None, False


def active() -> Telemetry | None:
    """The installation in use, or ``None`` when telemetry is off (cheap: the hot-path check)."""
    if _current is not None or _explicit:
        return _current
    # Not installed: adopt a real global TracerProvider if the user's process set one. Read
    # the API's module global directly: get_tracer_provider() also looks at os.environ.
    provider = getattr(trace, "_TRACER_PROVIDER", None)
    if provider is None or isinstance(provider, trace.ProxyTracerProvider):
        return None
    return install()


def capture_content() -> bool:
    """Whether message content may be recorded (never when telemetry is off)."""
    current = active()
    return current is not None and current.capture_content
