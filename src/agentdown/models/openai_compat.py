"""A lean OpenAI-compatible chat-completions client on aiohttp.

Covers OpenAI, Azure OpenAI (deployment URLs with ``api-version`` and the ``/openai/v1``
form; ``api-key`` header or an Entra token provider) and any OpenAI-compatible
``base_url`` (Ollama, vLLM, LM Studio, llama.cpp server). It does not use the openai
SDK: that costs about ten times the CPU per request and over a second to import.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from agentdown.lazy import lazy_module

if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = lazy_module("aiohttp")  # first used when a model is called: off the cold start

from agentdown.exceptions import ConfigurationError, ModelError, ModelHTTPError, ModelTimeoutError
from agentdown.messages import Message
from agentdown.models.base import ChatOptions, ChatResponse, ModelStreamEvent, ToolDefinition
from agentdown.models.retry import RetryPolicy
from agentdown.models.session import LoopBoundSession
from agentdown.models.sse import sse_data
from agentdown.models.tokens import AZURE_COGNITIVE_SCOPE, BearerTokens, TokenCredential, TokenProvider
from agentdown.models.wire import StreamAssembler, parse_completion
from agentdown.models.wire_payload import request_payload
from agentdown.version import __version__

__all__ = ["ModelTimeoutError", "OpenAIChatModel", "TokenProvider"]

logger = logging.getLogger("agentdown.models")


OPENAI_BASE_URL = "https://api.openai.com/v1"

USER_AGENT = f"agentdown/{__version__}"


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, error: ModelError, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.headers = headers


class OpenAIChatModel:
    """A :class:`~agentdown.models.base.ChatModel` speaking OpenAI chat completions.

    One ``aiohttp.ClientSession`` per instance, created on first use in the running
    event loop and reused by every request; close it with :meth:`aclose` or
    ``async with``. Safe to share across tasks of one event loop.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        token_provider: TokenProvider | TokenCredential | None = None,
        token_scope: str = AZURE_COGNITIVE_SCOPE,
        api_key_header: str = "Authorization",
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 600.0,
        connect_timeout: float | None = 10.0,
        stream_read_timeout: float | None = 120.0,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        azure_deployment_path: bool = False,
    ) -> None:
        """Build a client; no I/O happens until the first request.

        ``api_key`` goes into ``api_key_header`` (``Authorization: Bearer <key>`` by
        default, ``api-key: <key>`` for Azure). ``token_provider`` instead yields an
        Entra (or other) bearer token: a callable (sync or async) returning a token or an
        ``AccessToken``, or a credential with ``get_token`` (asked for ``token_scope``).
        A sync one runs in a worker thread, never on the event loop; a token with a
        known expiry is reused until shortly before it (see :mod:`agentdown.models.tokens`). ``query`` is appended to every URL
        (Azure's ``api-version``). ``timeout`` bounds a whole non-streamed request,
        ``stream_read_timeout`` the silence between two chunks of a stream; both apply
        per attempt. ``max_tokens_field`` is ``max_tokens`` for old servers that do not
        know ``max_completion_tokens``. With ``azure_deployment_path`` the ``model`` is
        an Azure deployment and goes into the URL path under ``base_url``.
        """
        if not model:
            raise ConfigurationError("OpenAIChatModel needs a model (or Azure deployment) name")
        if api_key and token_provider is not None:
            raise ConfigurationError("give either api_key or token_provider, not both")
        self._model = model
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self._tokens = BearerTokens(token_provider, scope=token_scope) if token_provider is not None else None
        self._api_key_header = api_key_header
        self._query = dict(query or {})
        self._azure_deployment_path = azure_deployment_path
        self._max_tokens_field = max_tokens_field
        self.retry_policy = retry or RetryPolicy(max_retries=max_retries)
        """How failed requests are retried."""
        self._connect_timeout = connect_timeout
        self._timeout_seconds = timeout
        self._stream_read_timeout = stream_read_timeout
        self._headers: dict[str, str] = {
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": USER_AGENT,
        }
        self._headers.update(headers or {})
        if self._api_key is not None:
            self._headers[api_key_header] = (
                f"Bearer {self._api_key}" if api_key_header.lower() == "authorization" else self._api_key
            )
        self._urls: dict[str, str] = {}
        self._http = LoopBoundSession()
        self._owned: list[Any] = []

    # Built per request, not in __init__: aiohttp is imported on first use (agentdown.lazy),
    # and a model is constructed for every agent while a Functions host indexes the app.
    @property
    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self._timeout_seconds, sock_connect=self._connect_timeout)

    @property
    def _stream_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None, sock_connect=self._connect_timeout, sock_read=self._stream_read_timeout
        )

    # -- factories ---------------------------------------------------------------------------

    @classmethod
    def azure(
        cls,
        endpoint: str,
        deployment: str,
        *,
        api_version: str | None = None,
        api_key: str | None = None,
        token_provider: TokenProvider | TokenCredential | None = None,
        **kwargs: Any,
    ) -> OpenAIChatModel:
        """Azure OpenAI: ``api_key`` (sent as ``api-key``) or an Entra ``token_provider``.

        With ``api_version`` the classic deployment URL is used
        (``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``);
        without it the v1 API (``{endpoint}/openai/v1/chat/completions``, the deployment
        as ``model``), which needs no version. An endpoint that already ends in
        ``/openai/v1`` is used as is.
        """
        if not endpoint:
            raise ConfigurationError("Azure OpenAI needs an endpoint (https://<resource>.openai.azure.com)")
        if not api_key and token_provider is None:
            raise ConfigurationError("Azure OpenAI needs an api_key or a token_provider (Entra ID)")
        root = endpoint.rstrip("/")
        common: dict[str, Any] = {
            "api_key": api_key,
            "token_provider": token_provider,
            "api_key_header": "api-key",
        }
        common.update(kwargs)
        if root.endswith("/openai/v1"):
            return cls(deployment, base_url=root, **common)
        if api_version:
            return cls(
                deployment,
                base_url=f"{root}/openai",
                query={"api-version": api_version},
                azure_deployment_path=True,
                **common,
            )
        return cls(deployment, base_url=f"{root}/openai/v1", **common)

    # -- ChatModel -----------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def base_url(self) -> str:
        return self._base_url

    def url_for(self, model: str | None = None) -> str:
        """The chat-completions URL a request for ``model`` goes to."""
        model = model or self._model
        url = self._urls.get(model)
        if url is None:
            if self._azure_deployment_path:
                path = f"{self._base_url}/deployments/{urllib.parse.quote(model, safe='')}/chat/completions"
            else:
                path = f"{self._base_url}/chat/completions"
            url = f"{path}?{urllib.parse.urlencode(self._query)}" if self._query else path
            self._urls[model] = url
        return url

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDefinition] = (),
        options: ChatOptions | None = None,
    ) -> ChatResponse:
        model, payload = request_payload(
            self._model, messages, tools, options, stream=False, max_tokens_field=self._max_tokens_field
        )
        url = self.url_for(model)
        attempt = 0
        while True:
            try:
                return await self._complete_once(url, payload)
            except _Retry as retry:
                await self._before_retry(retry, attempt, url)
                attempt += 1

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDefinition] = (),
        options: ChatOptions | None = None,
    ) -> AsyncIterator[ModelStreamEvent]:
        model, payload = request_payload(
            self._model, messages, tools, options, stream=True, max_tokens_field=self._max_tokens_field
        )
        return self._stream(model, payload)

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP session (and any credential the model owns); the model may be reused."""
        await self._http.aclose()
        owned, self._owned = self._owned, []
        for resource in owned:
            result = resource.close()
            if inspect.isawaitable(result):
                await result

    async def __aenter__(self) -> OpenAIChatModel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def own(self, resource: Any) -> None:
        """Close ``resource`` (sync or async ``close()``) in :meth:`aclose`, e.g. a credential."""
        self._owned.append(resource)

    def __repr__(self) -> str:
        return f"OpenAIChatModel(model={self._model!r}, base_url={self._base_url!r})"

    # -- internals -----------------------------------------------------------------------------

    async def _request_headers(self) -> dict[str, str]:
        if self._tokens is None:
            return self._headers
        token = await self._tokens.get()
        headers = dict(self._headers)
        headers["Authorization"] = f"Bearer {token}"
        return headers

    def _scrub(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text

    async def _before_retry(self, retry: _Retry, attempt: int, url: str) -> None:
        policy = self.retry_policy
        delay = policy.delay_for(attempt, retry.headers) if attempt < policy.max_retries else None
        if delay is None:
            raise retry.error from retry.__cause__
        logger.info("model request to %s failed (%s); retry %d in %.2fs", url, retry, attempt + 1, delay)
        await asyncio.sleep(delay)

    async def _complete_once(self, url: str, payload: bytes) -> ChatResponse:
        session = await self._http.get()
        headers = await self._request_headers()
        try:
            async with session.post(url, data=payload, headers=headers, timeout=self._timeout) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    self._raise_status(resp.status, raw, url, resp.headers)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _Retry(
                ModelTimeoutError(f"model request to {url} timed out after {self._timeout_seconds}s")
            ) from exc
        except aiohttp.ClientError as exc:
            raise _Retry(ModelError(f"model request to {url} failed: {type(exc).__name__}: {exc}")) from exc
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ModelError(f"model at {url} returned invalid JSON: {raw[:200]!r}") from exc
        if not isinstance(data, dict):
            raise ModelError(f"model at {url} returned unexpected JSON: {raw[:200]!r}")
        return parse_completion(data)

    def _raise_status(self, status: int, raw: bytes, url: str, headers: Mapping[str, str]) -> None:
        error = ModelHTTPError(status, self._scrub(raw.decode("utf-8", "replace")), url)
        if self.retry_policy.is_retryable(status):
            raise _Retry(error, headers)
        raise error

    async def _stream(self, model: str, payload: bytes) -> AsyncIterator[ModelStreamEvent]:
        url = self.url_for(model)
        attempt = 0
        while True:
            try:
                resp = await self._open_stream(url, payload)
                break
            except _Retry as retry:
                await self._before_retry(retry, attempt, url)
                attempt += 1
        # Past this point events may have been yielded, so failures are not retried.
        assembler = StreamAssembler()
        async with resp:
            try:
                async for data in sse_data(resp.content.iter_any()):
                    for event in assembler.feed(_load_chunk(data, url)):
                        yield event
                await _drain(resp)
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                raise ModelTimeoutError(
                    f"model stream from {url} sent nothing for {self._stream_read_timeout}s"
                ) from exc
            except aiohttp.ClientError as exc:
                raise ModelError(f"model stream from {url} broke: {type(exc).__name__}: {exc}") from exc
        yield assembler.result()

    async def _open_stream(self, url: str, payload: bytes) -> aiohttp.ClientResponse:
        session = await self._http.get()
        headers = dict(await self._request_headers())
        headers["accept"] = "text/event-stream"
        try:
            resp = await session.post(url, data=payload, headers=headers, timeout=self._stream_timeout)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _Retry(ModelTimeoutError(f"model stream from {url} did not start in time")) from exc
        except aiohttp.ClientError as exc:
            raise _Retry(ModelError(f"model request to {url} failed: {type(exc).__name__}: {exc}")) from exc
        if resp.status >= 400:
            try:
                raw = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                raw = b""
            finally:
                resp.release()
            self._raise_status(resp.status, raw, url, resp.headers)
        return resp


async def _drain(resp: aiohttp.ClientResponse) -> None:
    # Reading the body's end lets the keep-alive connection be reused; a server that
    # keeps the stream open after [DONE] only costs us that connection.
    if resp.content.at_eof():
        return
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(1.0):
            await resp.content.read()


def _load_chunk(data: str, url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise ModelError(f"model stream from {url} sent invalid JSON: {data[:200]!r}") from exc
    if not isinstance(chunk, dict):
        raise ModelError(f"model stream from {url} sent unexpected JSON: {data[:200]!r}")
    return chunk
