"""When and how long to wait before retrying a failed model request."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
"""Statuses worth another attempt: timeouts, conflicts, rate limits and server faults.

Any other 5xx is retried as well (see :meth:`RetryPolicy.is_retryable`).
"""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring the server's ``Retry-After``."""

    max_retries: int = 2
    """Attempts after the first one; 0 disables retries."""
    initial_delay: float = 0.5
    """Backoff before the first retry, in seconds; doubles on every further retry."""
    max_delay: float = 60.0
    """Longest wait before a retry. A server asking for longer makes the request fail at
    once: waiting less than asked is pointless and waiting longer stalls the caller."""
    backoff_cap: float = 8.0
    """Longest computed backoff (when the server gives no ``Retry-After``)."""
    jitter: float = 0.25
    """Fraction of the backoff taken off at random so that clients spread out."""

    def is_retryable(self, status: int) -> bool:
        return status in RETRYABLE_STATUSES or status >= 500

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based) when the server gave no hint."""
        delay = min(self.initial_delay * (2.0**attempt), self.backoff_cap)
        return delay * (1.0 - self.jitter * random.random())

    def delay_for(self, attempt: int, headers: Mapping[str, str] | None) -> float | None:
        """Seconds to wait before retry ``attempt``; ``None`` when the wait would exceed ``max_delay``."""
        hinted = parse_retry_after(headers) if headers is not None else None
        delay = self.backoff(attempt) if hinted is None else hinted
        if delay > self.max_delay:
            return None
        return delay


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait in seconds from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be delta-seconds or an HTTP date; ``retry-after-ms`` (sent by
    Azure OpenAI) is more precise and wins when both are present.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
