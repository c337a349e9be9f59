"""Token providers of the OpenAI-compatible client: sync ones off the event loop, tokens cached to expiry."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.identity import get_bearer_token_provider

from agentdown.messages import Message
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.models.tokens import AZURE_COGNITIVE_SCOPE, BearerTokens
from agentdown.testing import FakeModelServer

BLOCK = 0.6
"""How long the blocking providers below block: far longer than any tick gap we accept."""


@pytest.fixture
async def srv() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer() as server:
        yield server


def jwt(exp: float) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(exp), 'aud': 'x'})}.c2ln"


async def largest_gap_while(work: Any) -> float:
    """Run ``work`` while a ticker runs on the same loop; the longest the ticker had to wait."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)  # the ticker runs before the work starts
    try:
        await work
    finally:
        done.set()
        await task
    return max(gaps)


class BlockingCredential:
    """A sync azure-identity style credential whose refresh blocks, as a network call does."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.threads: set[str] = set()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        assert scopes == (AZURE_COGNITIVE_SCOPE,)
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(BLOCK)
        return AccessToken(f"entra-{self.calls}", int(time.time() + self.lifetime))


async def test_a_blocking_sync_provider_leaves_the_event_loop_responsive(srv: FakeModelServer) -> None:
    def slow_token() -> str:
        time.sleep(BLOCK)
        return "slow-token"

    async with OpenAIChatModel.azure(
        srv.url, "dep", api_version="2024-10-21", token_provider=slow_token
    ) as model:
        gap = await largest_gap_while(model.complete([Message.user("hi")]))
    assert srv.requests[-1].headers["authorization"] == "Bearer slow-token"
    # Called on the loop, the ticker would have waited the whole BLOCK.
    assert gap < BLOCK / 3, gap


async def test_azure_identity_sync_bearer_provider_runs_off_the_loop(srv: FakeModelServer) -> None:
    credential = BlockingCredential()
    provider = get_bearer_token_provider(credential, AZURE_COGNITIVE_SCOPE)  # the real sync helper
    async with OpenAIChatModel.azure(
        srv.url, "dep", api_version="2024-10-21", token_provider=provider
    ) as model:
        gap = await largest_gap_while(model.complete([Message.user("hi")]))
    assert srv.requests[-1].headers["authorization"] == "Bearer entra-1"
    assert gap < BLOCK / 3, gap
    assert threading.main_thread().name not in credential.threads


async def test_a_credential_is_asked_once_until_shortly_before_expiry(srv: FakeModelServer) -> None:
    credential = BlockingCredential()
    async with OpenAIChatModel(
        "m", base_url=srv.url, token_provider=credential, token_scope=AZURE_COGNITIVE_SCOPE
    ) as model:
        # Concurrent requests at start wait for one refresh, not one each.
        gap = await largest_gap_while(
            asyncio.gather(*(model.complete([Message.user(f"{i}")]) for i in range(5)))
        )
        await model.complete([Message.user("again")])
    assert credential.calls == 1
    assert {r.headers["authorization"] for r in srv.requests} == {"Bearer entra-1"}
    assert gap < BLOCK / 3, gap


async def test_cached_tokens_refresh_before_they_expire() -> None:
    now = [1_000_000.0]
    issued: list[float] = []

    def provider() -> str:
        issued.append(now[0])
        return jwt(now[0] + 3600)

    tokens = BearerTokens(provider, clock=lambda: now[0])
    first = await tokens.get()
    now[0] += 3600 - 301  # still more than 5 minutes left: reused
    assert await tokens.get() == first
    now[0] += 2  # less than 5 minutes left: refreshed
    assert await tokens.get() != first
    assert len(issued) == 2


async def test_short_lived_and_opaque_tokens() -> None:
    now = [500.0]
    calls: list[int] = []

    def short() -> AccessToken:
        calls.append(1)
        return AccessToken(f"t{len(calls)}", int(now[0] + 60))

    tokens = BearerTokens(short, clock=lambda: now[0])
    assert await tokens.get() == "t1"
    now[0] += 29  # a 60 s token is refreshed at half its life, not 5 minutes before expiry
    assert await tokens.get() == "t1"
    now[0] += 2
    assert await tokens.get() == "t2"

    # No expiry known: asked every time, so a rotating provider is honoured.
    opaque = iter(["a", "b"])
    tokens = BearerTokens(lambda: next(opaque))
    assert [await tokens.get(), await tokens.get()] == ["a", "b"]


async def test_async_providers_and_credentials() -> None:
    class AsyncCredential:
        calls = 0

        async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            AsyncCredential.calls += 1
            assert threading.current_thread() is threading.main_thread()  # awaited, not threaded
            return AccessToken("aio", int(time.time() + 3600))

    tokens = BearerTokens(AsyncCredential())
    assert [await tokens.get(), await tokens.get()] == ["aio", "aio"]
    assert AsyncCredential.calls == 1

    async def coroutine() -> str:
        return "coro"

    assert await BearerTokens(coroutine).get() == "coro"
    assert await BearerTokens(lambda: coroutine()).get() == "coro"  # a lambda returning a coroutine

    with pytest.raises(TypeError, match="not a str or an AccessToken"):
        await BearerTokens(lambda: 42).get()
    with pytest.raises(TypeError, match="callable or a credential"):
        BearerTokens("not-a-provider")  # type: ignore[arg-type]
