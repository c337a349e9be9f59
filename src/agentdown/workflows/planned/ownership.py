"""Workflow ids that carry their owner: ``{12 hex of the session's hash}-{32 random hex}``.

The shape and the unkeyed hash (``sha256(session_id)``) are the Azure Functions agents
runtime's (``workflows/context.py``), so ids look alike and a session only ever sees
its own workflows: the runner treats an id whose prefix is not the caller's as not
found (a 404, never a 403, so existence cannot be probed). With a ``secret`` the prefix
is an HMAC instead, so nobody without the secret can compute a session's prefix (the
hardening the other runtime lists for later).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _secrets

__all__ = ["PREFIX_LENGTH", "new_workflow_id", "session_owns_workflow", "session_prefix"]

PREFIX_LENGTH = 12
"""Hex characters of the owner prefix."""
_ID = re.compile(rf"[0-9a-f]{{{PREFIX_LENGTH}}}-[0-9a-f]{{32}}")


def session_prefix(session_id: str, secret: bytes | None = None) -> str:
    """The prefix every workflow of ``session_id`` starts with."""
    data = session_id.encode("utf-8")
    digest = (
        hmac.new(secret, data, hashlib.sha256).hexdigest() if secret else hashlib.sha256(data).hexdigest()
    )
    return digest[:PREFIX_LENGTH]


def new_workflow_id(session_id: str, secret: bytes | None = None) -> str:
    """A fresh id for a workflow ``session_id`` starts."""
    return f"{session_prefix(session_id, secret)}-{_secrets.token_hex(16)}"


def session_owns_workflow(session_id: str, workflow_id: str, secret: bytes | None = None) -> bool:
    """Whether ``workflow_id`` is well formed and belongs to ``session_id``."""
    if not session_id or not isinstance(workflow_id, str) or _ID.fullmatch(workflow_id) is None:
        return False
    return hmac.compare_digest(workflow_id[:PREFIX_LENGTH], session_prefix(session_id, secret))
