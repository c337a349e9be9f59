"""all-MiniLM-L6-v2 in process (placeholder until the numpy implementation lands)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MiniLMEmbedder"]


class MiniLMEmbedder:
    def __init__(self, *, static: bool, name: str) -> None:
        self.name = name
        self.static = static
        self.dimensions = 256 if static else 384

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError("local embeddings are not implemented yet")
