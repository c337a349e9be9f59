"""App commands: ``init``, ``check``, ``schema``, ``run``, ``chat`` (the app-model issue fills these in)."""

from __future__ import annotations

from agentdown.cli.main import app

__all__ = ["app"]
