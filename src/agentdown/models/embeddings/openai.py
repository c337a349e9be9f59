"""Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure OpenAI, any base_url)."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentdown.lazy import lazy_module

if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = lazy_module("aiohttp")  # first used when a model is called: off the cold start

from agentdown.exceptions import ConfigurationError, ModelError, ModelHTTPError
from agentdown.models.retry import RetryPolicy
from agentdown.models.session import LoopBoundSession
from agentdown.models.tokens import AZURE_COGNITIVE_SCOPE, BearerTokens, TokenCredential, TokenProvider
from agentdown.version import __version__

__all__ = ["KNOWN_DIMENSIONS", "OpenAIEmbedder"]

logger = logging.getLogger("agentdown.models")

KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Default vector sizes of OpenAI's models; any other model's is learnt from its first answer."""

# OpenAI takes at most 2048 inputs and 300k tokens per request; 128 chunks of at most
# 4096 tokens stay under both.
_BATCH = 128


class OpenAIEmbedder:
    """An :class:`~agentdown.models.embeddings.Embedder` speaking OpenAI's embeddings API.

    ``dimensions`` is the model's vector size: given, known for OpenAI's models, or
    ``0`` until the first answer tells it. With ``request_dimensions`` the size is sent
    (text-embedding-3 models shorten their vectors on request).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        token_provider: TokenProvider | TokenCredential | None = None,
        api_key_header: str = "Authorization",
        query: Mapping[str, str] | None = None,
        azure_deployment_path: bool = False,
        dimensions: int | None = None,
        request_dimensions: bool = False,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not model:
            raise ConfigurationError("an embeddings endpoint needs a model (or Azure deployment) name")
        self.model = model
        self.name = f"openai:{model}" + (f":{dimensions}" if request_dimensions and dimensions else "")
        self.dimensions = dimensions or KNOWN_DIMENSIONS.get(model, 0)
        self._request_dimensions = request_dimensions and bool(dimensions)
        root = base_url.rstrip("/")
        path = (
            f"{root}/deployments/{urllib.parse.quote(model, safe='')}/embeddings"
            if azure_deployment_path
            else f"{root}/embeddings"
        )
        self.url = f"{path}?{urllib.parse.urlencode(dict(query))}" if query else path
        self._headers = {"content-type": "application/json", "user-agent": f"agentdown/{__version__}"}
        if api_key:
            self._headers[api_key_header] = (
                f"Bearer {api_key}" if api_key_header.lower() == "authorization" else api_key
            )
        self._tokens = (
            BearerTokens(token_provider, scope=AZURE_COGNITIVE_SCOPE) if token_provider is not None else None
        )
        self._timeout_seconds = timeout
        self._retry = retry or RetryPolicy(max_retries=3)
        self._http = LoopBoundSession()
        self._owned: list[Any] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), _BATCH):
            out.extend(await self._batch(list(texts[start : start + _BATCH])))
        return out

    async def _batch(self, texts: list[str]) -> list[list[float]]:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self._request_dimensions:
            body["dimensions"] = self.dimensions
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempt = 0
        error: ModelError
        while True:
            headers = dict(self._headers)
            if self._tokens is not None:
                headers["Authorization"] = f"Bearer {await self._tokens.get()}"
            session = await self._http.get()
            try:
                async with session.post(
                    self.url,
                    data=payload,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self._timeout_seconds, sock_connect=10.0),
                ) as resp:
                    raw = await resp.read()
                    if resp.status == 200:
                        return self._vectors(raw, len(texts))
                    error = ModelHTTPError(resp.status, raw.decode("utf-8", "replace"), self.url)
                    retry_headers: Mapping[str, str] | None = resp.headers
                    if not self._retry.is_retryable(resp.status):
                        raise error
            except (TimeoutError, aiohttp.ClientError) as exc:
                error = ModelError(f"embeddings request to {self.url} failed: {exc!r}")
                retry_headers = None
            delay = (
                self._retry.delay_for(attempt, retry_headers) if attempt < self._retry.max_retries else None
            )
            if delay is None:
                raise error
            logger.warning("embeddings request failed (%s); retrying in %.1fs", error, delay)
            await asyncio.sleep(delay)
            attempt += 1

    def _vectors(self, raw: bytes, count: int) -> list[list[float]]:
        try:
            data = json.loads(raw)["data"]
            ordered = sorted(data, key=lambda item: int(item["index"]))
            vectors = [[float(x) for x in item["embedding"]] for item in ordered]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"malformed embeddings response from {self.url}: {exc!r}") from exc
        if len(vectors) != count or any(len(v) != len(vectors[0]) for v in vectors):
            raise ModelError(
                f"embeddings response from {self.url} has {len(vectors)} vectors for {count} inputs"
            )
        if vectors:
            if self.dimensions and len(vectors[0]) != self.dimensions:
                raise ModelError(
                    f"{self.model} returned vectors of {len(vectors[0])} dimensions, expected {self.dimensions}"
                )
            self.dimensions = len(vectors[0])
        return vectors

    def own(self, resource: Any) -> None:
        """Close ``resource`` (e.g. a credential) in :meth:`aclose`."""
        self._owned.append(resource)

    async def aclose(self) -> None:
        await self._http.aclose()
        owned, self._owned = self._owned, []
        for resource in owned:
            result = resource.close()
            if asyncio.iscoroutine(result):
                await result

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, url={self.url!r})"
