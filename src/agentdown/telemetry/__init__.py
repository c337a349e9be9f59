"""OpenTelemetry for agentdown: GenAI-convention spans and metrics, free when off.

The bottom layer: it imports only the OpenTelemetry API (and the SDK/exporters when
export is configured), never another agentdown layer, so every layer can call it.
See ``docs/observability.md``.
"""

from agentdown.telemetry._state import CAPTURE_ENV, Telemetry, active, capture_content, install, uninstall
from agentdown.telemetry.genai import (
    agent_span,
    chat_span,
    content_json,
    count_lease_renewal,
    count_run,
    end_chat,
    record_queue_poll,
    set_content,
    tool_span,
)
from agentdown.telemetry.propagation import (
    TRACE_KEYS,
    TRACEPARENT,
    add_to,
    extract,
    inject,
    strip,
    use_carrier,
)
from agentdown.telemetry.spans import (
    SpanKind,
    current,
    end_span,
    fail_span,
    span,
    start_span,
    traced_generator,
)

__all__ = [
    "CAPTURE_ENV",
    "TRACEPARENT",
    "TRACE_KEYS",
    "SpanKind",
    "Telemetry",
    "active",
    "add_to",
    "agent_span",
    "capture_content",
    "chat_span",
    "content_json",
    "count_lease_renewal",
    "count_run",
    "current",
    "end_chat",
    "end_span",
    "extract",
    "fail_span",
    "inject",
    "install",
    "record_queue_poll",
    "set_content",
    "span",
    "start_span",
    "strip",
    "tool_span",
    "traced_generator",
    "uninstall",
    "use_carrier",
]
