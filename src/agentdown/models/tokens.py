"""Bearer tokens for model requests: from any provider, off the event loop, cached until near expiry.

A token source is either a callable (sync or async) returning a token, as
``azure.identity.get_bearer_token_provider`` builds for sync and async credentials,
or a credential object with ``get_token(scope)`` returning an ``AccessToken``
(``token``, ``expires_on``), sync or async, as every azure-identity credential has.

A sync source may block for seconds (a sync credential refreshing over the network,
``az`` CLI, a managed-identity endpoint), so it always runs in a worker thread: the
event loop keeps serving other requests meanwhile. A token whose expiry is known
(``AccessToken.expires_on``, or the ``exp`` claim of a JWT, which is what Entra
issues) is reused until shortly before it expires, and concurrent requests wait for
one refresh instead of starting one each. A token whose expiry is unknown is fetched
for every request, so a provider that rotates tokens is always honoured.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["AZURE_COGNITIVE_SCOPE", "REFRESH_MARGIN", "BearerTokens", "TokenCredential", "TokenProvider"]

AZURE_COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"
"""The Entra scope of Azure OpenAI and Microsoft Foundry models."""

REFRESH_MARGIN = 300.0
"""Seconds before expiry at which a cached token is refreshed (azure-identity's own margin)."""

TokenProvider = Callable[[], Any]
"""Returns a bearer token (``str``) or an ``AccessToken``, directly or as an awaitable."""


@runtime_checkable
class TokenCredential(Protocol):
    """An azure-identity style credential (sync or ``.aio``)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class BearerTokens:
    """The current bearer token of one source, fetched off the loop and cached while valid."""

    def __init__(
        self,
        source: TokenProvider | TokenCredential,
        *,
        scope: str = AZURE_COGNITIVE_SCOPE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        fetch: Callable[[], Any]
        if not callable(source) and isinstance(source, TokenCredential):
            credential = source

            def fetch() -> Any:
                return credential.get_token(scope)

            self._asynchronous = inspect.iscoroutinefunction(credential.get_token)
        elif callable(source):
            fetch = source
            self._asynchronous = inspect.iscoroutinefunction(source) or inspect.iscoroutinefunction(
                type(source).__call__  # an object whose __call__ is async
            )
        else:
            raise TypeError(
                f"token_provider must be a callable or a credential with get_token(), not {type(source).__name__}"
            )
        self._fetch = fetch
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        # One lock per event loop: a model object may serve several loops (one per thread).
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def get(self) -> str:
        """A token valid for a request made now."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            # Another request may have refreshed it while this one waited.
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            fetched_at = self._clock()
            token, expires_on = _parse(await self._call())
            self._token, self._refresh_at = token, _refresh_time(fetched_at, expires_on)
            return token

    async def _call(self) -> Any:
        if self._asynchronous:
            result = self._fetch()
        else:
            # Off the loop: a sync source may block on the network for seconds.
            result = await asyncio.to_thread(self._fetch)
        if inspect.isawaitable(result):  # a sync-looking callable (a lambda) returning a coroutine
            result = await result
        return result


def _parse(result: Any) -> tuple[str, float | None]:
    """The token text and its expiry (epoch seconds), if known."""
    if isinstance(result, str):
        return result, _jwt_expiry(result)
    token = getattr(result, "token", None)
    if not isinstance(token, str):
        raise TypeError(f"the token provider returned {type(result).__name__}, not a str or an AccessToken")
    expires_on = getattr(result, "expires_on", None)
    return token, float(expires_on) if isinstance(expires_on, int | float) else _jwt_expiry(token)


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it: it only decides when to refresh."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _refresh_time(fetched_at: float, expires_on: float | None) -> float:
    """When to fetch again: never cached without an expiry; a short-lived token at half its life."""
    if expires_on is None:
        return 0.0
    margin = min(REFRESH_MARGIN, max(0.0, expires_on - fetched_at) / 2)
    return expires_on - margin
