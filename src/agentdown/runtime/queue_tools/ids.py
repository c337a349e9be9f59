"""Correlation ids that tell any reader of an output queue whose call a reply answers, and until when.

``qt1-<owner>-<deadline ms>-<random>``: ``owner`` names the process (its reply
router) that sent the call, ``deadline`` the unix time in milliseconds after which
nobody waits for it any more (``0``: no deadline of its own). Functions only echo the
id, so its shape is ours to choose; any other id (chosen by a caller) works too, it
just carries no owner or deadline, see :mod:`.router`.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

__all__ = ["CallId", "new_correlation_id", "new_owner", "parse_correlation_id"]

_PREFIX = "qt1"


def new_owner() -> str:
    """A fresh owner token (one per reply router, so per process and output queue)."""
    return secrets.token_hex(4)


def new_correlation_id(owner: str, deadline: float | None) -> str:
    """A new id for a call sent by ``owner`` that nobody waits for after ``deadline`` (unix seconds)."""
    millis = 0 if deadline is None else max(1, int(deadline * 1000))
    return f"{_PREFIX}-{owner}-{millis}-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class CallId:
    owner: str | None
    """The sending router's token; ``None`` for an id agentdown did not make."""
    deadline: float | None
    """Unix seconds; ``None``: no deadline known."""


def parse_correlation_id(value: str) -> CallId:
    parts = value.split("-")
    if len(parts) != 4 or parts[0] != _PREFIX or not parts[2].isdigit():
        return CallId(None, None)
    millis = int(parts[2])
    return CallId(parts[1], millis / 1000 if millis else None)
