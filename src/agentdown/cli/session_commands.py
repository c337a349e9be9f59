"""``agentdown sessions list|show|prune`` (the sessions issue fills these in)."""

from __future__ import annotations

from agentdown.cli.main import app

__all__ = ["app"]
