"""Creates, executes and answers for runs (being written: see runs/__init__.py)."""

from __future__ import annotations

__all__ = ["RunService"]


class RunService:
    """Executes runs of one process (filled in by the runs work)."""
