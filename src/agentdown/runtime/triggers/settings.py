"""Trigger host settings, read from the environment (names follow ``host.json``'s ``queues`` section).

=========================================  ========  ===============================================
variable                                   default   meaning
=========================================  ========  ===============================================
``AGENTDOWN_TRIGGER_CONCURRENCY``          4         runs at once per trigger (``--concurrency``)
``AGENTDOWN_QUEUE_MAX_DEQUEUE_COUNT``      5         deliveries before a message is poison
``AGENTDOWN_QUEUE_VISIBILITY_TIMEOUT``     0         seconds before a failed message is retried
``AGENTDOWN_QUEUE_LEASE_SECONDS``          30        a message in work stays hidden this long
                                                     between renewals (a dead worker's message
                                                     reappears after at most this)
``AGENTDOWN_QUEUE_MAX_POLLING_INTERVAL``   1 / 10    longest wait between polls of an empty
                                                     queue: embedded / Azure
``AGENTDOWN_QUEUE_MESSAGE_ENCODING``       base64    how messages are written to Azure queues
                                                     (``base64`` or ``none``)
``AGENTDOWN_BLOB_POLLING_INTERVAL``        2         seconds between scans of a blob container
``AGENTDOWN_BLOB_MAX_CONTENT``             65536     bytes of a text blob put in the prompt
``AGENTDOWN_HOSTS_CONTAINER``              (below)   blob container of receipts and timer state
                                                     in Azure; ``agentdown-hosts``
``AGENTDOWN_DRAIN_SECONDS``                30        graceful stop: wait this long for runs
``WEBSITE_TIME_ZONE`` (or ``TZ``)          UTC       time zone of timer schedules (IANA name)
=========================================  ========  ===============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agentdown.exceptions import ConfigurationError
from agentdown.runtime.triggers.blobstore import validate_container_name

__all__ = ["TriggerSettings"]


@dataclass(frozen=True, slots=True)
class TriggerSettings:
    """How the trigger host polls, retries and poisons (see the module docstring for the variables)."""

    concurrency: int = 4
    """Runs at once per trigger; more messages wait in their queue (or blob container)."""
    max_dequeue_count: int = 5
    """A message delivered this many times without success goes to ``<queue>-poison``."""
    retry_delay: float = 0.0
    """Seconds a failed message stays hidden before its next attempt (host.json ``visibilityTimeout``)."""
    lease_seconds: float = 30.0
    """Visibility timeout of a message being processed; renewed every third of it while the run lasts."""
    max_polling_interval: float | None = None
    """Longest wait between polls of an empty queue; ``None``: 1 s embedded, 10 s Azure."""
    message_encoding: Literal["base64", "none"] = "base64"
    """How message text is written to Azure queues (receiving accepts both)."""
    blob_polling_interval: float = 2.0
    """Seconds between scans of a watched blob container or folder."""
    blob_max_content: int = 65536
    """Bytes of a UTF-8 blob included in the trigger data as ``content`` (longer ones are cut)."""
    hosts_container: str = "agentdown-hosts"
    """Azure blob container holding blob receipts and timer schedule status."""
    drain_seconds: float = 30.0
    """On a graceful stop, seconds to let runs in progress finish before they are abandoned."""
    time_zone: tzinfo = UTC
    """Time zone timer schedules are read in."""

    def polling_interval(self, kind: str) -> float:
        if self.max_polling_interval is not None:
            return self.max_polling_interval
        return 1.0 if kind == "embedded" else 10.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> TriggerSettings:
        env = os.environ if environ is None else environ
        encoding = _get(env, "AGENTDOWN_QUEUE_MESSAGE_ENCODING") or "base64"
        if encoding not in ("base64", "none"):
            raise ConfigurationError(
                f"AGENTDOWN_QUEUE_MESSAGE_ENCODING: expected base64 or none, got {encoding!r}"
            )
        polling = _get(env, "AGENTDOWN_QUEUE_MAX_POLLING_INTERVAL")
        return cls(
            concurrency=int(_number(env, "AGENTDOWN_TRIGGER_CONCURRENCY", 4, whole=True, minimum=1)),
            max_dequeue_count=int(
                _number(env, "AGENTDOWN_QUEUE_MAX_DEQUEUE_COUNT", 5, whole=True, minimum=1)
            ),
            retry_delay=_number(env, "AGENTDOWN_QUEUE_VISIBILITY_TIMEOUT", 0.0, minimum=0),
            lease_seconds=_number(env, "AGENTDOWN_QUEUE_LEASE_SECONDS", 30.0, minimum=1),
            max_polling_interval=(
                None if polling is None else _number(env, "AGENTDOWN_QUEUE_MAX_POLLING_INTERVAL", 1.0, 0.01)
            ),
            message_encoding=encoding,  # type: ignore[arg-type]
            blob_polling_interval=_number(env, "AGENTDOWN_BLOB_POLLING_INTERVAL", 2.0, minimum=0.01),
            blob_max_content=int(_number(env, "AGENTDOWN_BLOB_MAX_CONTENT", 65536, whole=True, minimum=0)),
            hosts_container=_container(env),
            drain_seconds=_number(env, "AGENTDOWN_DRAIN_SECONDS", 30.0, minimum=0),
            time_zone=_time_zone(env),
        )


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _number(
    env: Mapping[str, str], name: str, default: float, minimum: float, *, whole: bool = False
) -> float:
    text = _get(env, name)
    if text is None:
        return default
    kind = "a whole number" if whole else "a number of seconds"
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise ConfigurationError(f"{name}: expected {kind} of at least {minimum:g}, got {text!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name}: expected {kind} of at least {minimum:g}, got {text!r}")
    return value


def _container(env: Mapping[str, str]) -> str:
    name = _get(env, "AGENTDOWN_HOSTS_CONTAINER") or "agentdown-hosts"
    try:
        return validate_container_name(name)
    except ValueError as exc:
        raise ConfigurationError(f"AGENTDOWN_HOSTS_CONTAINER: {exc}") from None


def _time_zone(env: Mapping[str, str]) -> tzinfo:
    for name in ("WEBSITE_TIME_ZONE", "TZ"):
        value = _get(env, name)
        if value is None:
            continue
        if value.upper() in ("UTC", "Z", "ETC/UTC"):
            return UTC
        try:
            return ZoneInfo(value.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            if name == "TZ":
                continue  # POSIX TZ strings ("EST5EDT") are not IANA names; they only affect local time
            raise ConfigurationError(
                f"WEBSITE_TIME_ZONE: expected an IANA time zone name such as Europe/Paris, got {value!r}"
            ) from None
    return UTC
