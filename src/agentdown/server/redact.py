"""Secrets out of log lines: access keys in query strings, auth headers, bearer tokens.

An agent's HTTP endpoints accept their access key as ``?code=`` (the Azure Functions
convention), and uvicorn's access log prints every request's query string; Azure
SAS URLs carry ``sig=``, some clients put ``api-key=`` or ``token=`` in URLs, and an
error message may quote a request's headers. :func:`install_log_redaction` rewrites
every log record of the process when it is created, whichever logger or handler it
goes to, so no formatter (uvicorn's access formatter builds its line from the
record's arguments) ever sees the secret.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["REDACTED", "install_log_redaction", "redact", "redact_record"]

REDACTED = "[redacted]"

# A query parameter whose name says it is a credential; over-redacting ("zipcode") is harmless.
_SECRET_NAME = r"[\w.\-]*(?:code|key|sig|signature|token|secret|password|passwd|pwd|credential|auth)[\w.\-]*"
_QUERY_PARAM = re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&#\s\"'<>]*")
# ``Authorization: Bearer x``, ``'api-key': 'x'``, ``x-functions-key=x`` in a header dump.
_HEADER = re.compile(
    # Not right after ? & ; : a query parameter is _QUERY_PARAM's, its value ends at the next &.
    r"(?i)(?<![?&;])(\b(?:proxy-)?authorization|\bx-functions-key|\bx-api-key|\bapi-key|\bocp-apim-subscription-key"
    r"|\bcookie|\bset-cookie|\bx-ms-client-secret)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\"'\r\n,}]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*")


def redact(text: str) -> str:
    """``text`` with credential values replaced by ``[redacted]``."""
    if not text:
        return text
    text = _QUERY_PARAM.sub(rf"\1{REDACTED}", text)
    text = _HEADER.sub(rf"\1\2{REDACTED}", text)
    return _BEARER.sub(rf"\1 {REDACTED}", text)


def _redact_value(value: Any) -> Any:
    # Only text is rewritten: numbers keep their type for %d / %f placeholders.
    return redact(value) if isinstance(value, str) else value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place: its message, its arguments and its traceback text."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_redact_value(a) for a in args)
    elif isinstance(args, Mapping):
        record.args = {k: _redact_value(v) for k, v in args.items()}
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        # Formatters reuse exc_text when set, so the traceback is printed redacted too.
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


_lock = threading.Lock()
_installed: Callable[..., logging.LogRecord] | None = None


def install_log_redaction() -> None:
    """Redact every log record created from now on, in any logger (idempotent).

    Wraps the logging module's record factory rather than adding filters to handlers:
    handlers are replaced by uvicorn's logging set-up and by applications, the record
    factory is the one point every record passes.
    """
    global _installed
    with _lock:
        current = logging.getLogRecordFactory()
        if _installed is not None and current is _installed:
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(current(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed = factory
