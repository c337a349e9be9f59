"""The Azure AI Agents REST API served by ``agentdown serve`` (see :mod:`.app`)."""

from __future__ import annotations

from agentdown.server.agents_api.app import MOUNT_PATH, LazyAgentsStore, agents_api_mount

__all__ = ["MOUNT_PATH", "LazyAgentsStore", "agents_api_mount"]
