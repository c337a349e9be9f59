"""Logging for the terminal commands (``run``, ``chat``): one line per record, tracebacks with ``-v``.

A tool that raises is logged with its traceback by the tool layer (servers want it);
at the terminal that buries the answer, so by default the record reads
``tool 'x' (call c1) failed: ValueError: boom`` and ``-v`` shows the whole trace.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_terminal_logging"]


class _OneLine(logging.Formatter):
    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return text
        if self.verbose:
            return f"{text}\n{self.formatException(record.exc_info)}"  # type: ignore[arg-type]
        return f"{text}: {type(exc).__name__}: {exc}"


class _TerminalHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_terminal_logging(verbose: bool) -> None:
    """agentdown's warnings (and with ``verbose`` its debug records) to stderr, one line each."""
    logger = logging.getLogger("agentdown")
    handler = _TerminalHandler(sys.stderr)
    handler.setFormatter(_OneLine(verbose))
    logger.handlers = [h for h in logger.handlers if not isinstance(h, _TerminalHandler)] + [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False
