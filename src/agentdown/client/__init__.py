"""Clients of an agentdown server (the top layer: it may import anything, nothing imports it)."""

from __future__ import annotations

from agentdown.client.agents import agents_client, endpoint_of

__all__ = ["agents_client", "endpoint_of"]
