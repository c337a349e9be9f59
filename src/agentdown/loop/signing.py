"""Tamper-evident run states: an HMAC-SHA256 over the canonical JSON of a paused run.

A paused run's state travels through callers (``result.state`` → ``resume=``), so a
caller could edit it: add a call of an approval-gated tool to the pending assistant
message and have it run unapproved. The state is therefore signed when a run pauses
and verified before it resumes. The key is, first found: the ``key=`` argument,
``AGENTDOWN_STATE_KEY`` (any string; share it between processes that resume each
other's runs), or a random key kept in ``<data dir>/state.key`` (created on first
use, mode 0600), which every process on one machine and data dir shares.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentdown.exceptions import ResumeError

__all__ = ["SIGNATURE_FIELD", "sign_state", "state_key", "verify_state"]

SIGNATURE_FIELD = "signature"
KEY_FILE = "state.key"


def state_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The process's state-signing key (see the module docstring)."""
    env = os.environ if environ is None else environ
    configured = env.get("AGENTDOWN_STATE_KEY", "").strip()
    if configured:
        return configured.encode()
    from agentdown.sessions.config import data_dir

    return _file_key(data_dir(env) / KEY_FILE)


def _file_key(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    try:
        # link() fails if another process created the file first: then everyone uses theirs.
        os.link(tmp, path)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _digest(payload: Mapping[str, Any], key: bytes) -> str:
    body = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def sign_state(payload: dict[str, Any], key: bytes) -> dict[str, Any]:
    """``payload`` with its signature added (in place, and returned)."""
    payload[SIGNATURE_FIELD] = _digest(payload, key)
    return payload


def verify_state(payload: Mapping[str, Any], key: bytes) -> None:
    """Raise :class:`ResumeError` unless ``payload`` carries a valid signature for ``key``."""
    signature = payload.get(SIGNATURE_FIELD)
    if not isinstance(signature, str):
        raise ResumeError("the run state is not signed; resume only states returned by a paused run")
    if not hmac.compare_digest(signature, _digest(payload, key)):
        raise ResumeError(
            "the run state's signature does not verify: it was changed after the run paused, or it was "
            "signed with another key (set the same AGENTDOWN_STATE_KEY in every process that resumes runs)"
        )
