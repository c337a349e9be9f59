"""The shapes on the wire: a call message and a reply, as the Azure AI Agent Service and Functions use them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentdown import telemetry

__all__ = ["CORRELATION_KEY", "Reply", "call_body", "parse_reply"]

CORRELATION_KEY = "CorrelationId"


def call_body(arguments: Mapping[str, Any], correlation_id: str) -> str:
    """The model's arguments as one flat JSON object plus ``CorrelationId``.

    With telemetry on, also the W3C ``traceparent`` (and ``tracestate``) of the calling
    span, unless the arguments hold such a key: ``agentdown worker --queue-tools`` strips
    them before validating the arguments and continues the trace.
    """
    return json.dumps(telemetry.add_to({**arguments, CORRELATION_KEY: correlation_id}), ensure_ascii=False)


class Reply:
    __slots__ = ("correlation_id", "value")

    def __init__(self, correlation_id: str, value: Any) -> None:
        self.correlation_id = correlation_id
        self.value = value


def _field(body: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    if name in body:
        return True, body[name]
    for key, value in body.items():  # Functions written by hand vary the case ("correlationId")
        if isinstance(key, str) and key.lower() == name.lower():
            return True, value
    return False, None


def parse_reply(body: bytes) -> Reply | str:
    """The reply in ``body`` (already base64-decoded when it was), or why it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "it is not JSON"
    if not isinstance(data, dict):
        return "it is not a JSON object"
    found, correlation_id = _field(data, CORRELATION_KEY)
    if not found or not isinstance(correlation_id, str) or not correlation_id:
        return "it has no CorrelationId string"
    has_value, value = _field(data, "Value")
    if not has_value:
        return f"it has no Value (CorrelationId {correlation_id})"
    return Reply(correlation_id, value)
