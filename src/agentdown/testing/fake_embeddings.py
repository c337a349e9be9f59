"""The fake model server's ``/embeddings`` endpoint: deterministic vectors shaped like OpenAI's answer.

A text's vector is a bag of its lower-cased words hashed into ``dimensions`` buckets
(default 64, or the request's ``dimensions``), so texts sharing words are similar and
tests can reason about ranks. ``FakeModelServer.embedding_faults`` holds HTTP statuses to
answer the next embeddings requests with (for retry tests).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["DEFAULT_DIMENSIONS", "embedding_handler", "fake_embedding"]

DEFAULT_DIMENSIONS = 64
_WORD = re.compile(r"\w+")


def fake_embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The unit vector the fake server answers for ``text``."""
    vec = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        vec[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [x / norm for x in vec]


def embedding_handler(server: Any) -> Callable[[web.Request], Any]:
    """The aiohttp handler of ``server`` (a FakeModelServer): records, fails on request, answers."""

    async def handle(request: web.Request) -> web.Response:
        recorded = await server._record(request)
        faults: list[int] = server.embedding_faults
        if faults:
            status = faults.pop(0)
            return web.json_response(
                {"error": {"message": f"injected {status}", "type": "fault"}}, status=status
            )
        body = recorded.body if isinstance(recorded.body, dict) else {}
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
            return web.json_response(
                {"error": {"message": "'input' must be a string or a non-empty list of strings"}}, status=400
            )
        dims = body.get("dimensions") or DEFAULT_DIMENSIONS
        model = body.get("model") or request.match_info.get("deployment") or server.model
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(t, dims)}
            for i, t in enumerate(inputs)
        ]
        tokens = sum(len(_WORD.findall(t)) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return handle
