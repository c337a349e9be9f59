"""Retries, timeouts, connection errors and session reuse of the OpenAI-compatible client."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import warnings
from collections.abc import AsyncIterator
from email.utils import formatdate

import pytest

from agentdown.exceptions import ModelError, ModelHTTPError
from agentdown.messages import Message
from agentdown.models import ChatResponse, ModelStreamEvent, ModelTimeoutError, OpenAIChatModel, RetryPolicy
from agentdown.models.retry import parse_retry_after
from agentdown.testing import FakeModelServer

KEY = "sk-very-secret-key-123"
FAST = RetryPolicy(max_retries=2, initial_delay=0.01)


@pytest.fixture
async def srv() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer() as server:
        yield server


async def consume(stream: AsyncIterator[ModelStreamEvent]) -> list[ModelStreamEvent]:
    return [event async for event in stream]


def make(srv: FakeModelServer, **kwargs: object) -> OpenAIChatModel:
    kwargs.setdefault("retry", FAST)
    return OpenAIChatModel("m", base_url=srv.base_url, api_key=KEY, **kwargs)  # type: ignore[arg-type]


async def test_429_retry_after_seconds_is_honoured(srv: FakeModelServer) -> None:
    srv.fail_next(429, retry_after=1)
    async with make(srv) as model:
        start = time.perf_counter()
        response = await model.complete([Message.user("hi")])
        elapsed = time.perf_counter() - start
    assert response.message.text == "Echo: hi"
    assert len(srv.requests) == 2
    assert 1.0 <= elapsed < 2.5


async def test_retry_after_ms_wins_and_is_precise(srv: FakeModelServer) -> None:
    srv.fail_next(429, retry_after=30, retry_after_ms=200)
    async with make(srv) as model:
        start = time.perf_counter()
        await model.complete([Message.user("hi")])
        elapsed = time.perf_counter() - start
    assert 0.2 <= elapsed < 1.5


async def test_500_then_success(srv: FakeModelServer) -> None:
    srv.fail_next(500)
    srv.fail_next(502)
    async with make(srv) as model:
        response = await model.complete([Message.user("hi")])
    assert response.message.text == "Echo: hi"
    assert len(srv.requests) == 3


async def test_exhausted_retries_raise_http_error(srv: FakeModelServer) -> None:
    srv.fail_next(503, body={"error": {"message": "busy"}}, times=3)
    async with make(srv) as model:
        with pytest.raises(ModelHTTPError) as info:
            await model.complete([Message.user("hi")])
    assert info.value.status == 503
    assert "busy" in info.value.body
    assert info.value.url == f"{srv.base_url}/chat/completions"
    assert len(srv.requests) == 3


async def test_400_is_not_retried_and_key_never_shows(srv: FakeModelServer) -> None:
    # A server that echoes the key back must not leak it through our error.
    srv.fail_next(400, body=f'{{"error": {{"message": "bad request for key {KEY}"}}}}')
    async with make(srv) as model:
        with pytest.raises(ModelHTTPError) as info:
            await model.complete([Message.user("hi")])
    assert info.value.status == 400
    assert len(srv.requests) == 1
    assert KEY not in str(info.value)
    assert KEY not in info.value.body
    assert "bad request" in str(info.value)


async def test_retry_after_longer_than_max_delay_fails_at_once(srv: FakeModelServer) -> None:
    srv.fail_next(429, retry_after=3600)
    async with make(srv) as model:
        start = time.perf_counter()
        with pytest.raises(ModelHTTPError) as info:
            await model.complete([Message.user("hi")])
    assert info.value.status == 429
    assert time.perf_counter() - start < 1.0
    assert len(srv.requests) == 1


async def test_max_retries_zero(srv: FakeModelServer) -> None:
    srv.fail_next(500)
    async with make(srv, retry=None, max_retries=0) as model:
        with pytest.raises(ModelHTTPError):
            await model.complete([Message.user("hi")])
    assert len(srv.requests) == 1


async def test_timeout_raises_model_timeout_error(srv: FakeModelServer) -> None:
    srv.latency = 2.0
    async with make(srv, timeout=0.2, max_retries=0, retry=None) as model:
        start = time.perf_counter()
        with pytest.raises(ModelTimeoutError, match="timed out") as info:
            await model.complete([Message.user("hi")])
    assert time.perf_counter() - start < 1.5
    assert isinstance(info.value, ModelError)
    assert isinstance(info.value, TimeoutError)
    assert srv.base_url in str(info.value)


async def test_timeout_is_retried(srv: FakeModelServer) -> None:
    srv.latency = 0.5
    async with make(srv, timeout=0.1, retry=RetryPolicy(max_retries=1, initial_delay=0.01)) as model:
        with pytest.raises(ModelTimeoutError):
            await model.complete([Message.user("hi")])
    assert len(srv.requests) == 2


async def test_stream_read_timeout_between_chunks(srv: FakeModelServer) -> None:
    srv.chunk_delay = 0.5
    async with make(srv, stream_read_timeout=0.1) as model:
        with pytest.raises(ModelTimeoutError, match="sent nothing"):
            await consume(model.stream([Message.user("a long enough prompt")]))
    # The response had started (status 200, first chunk), so the silence was not retried.
    assert len(srv.requests) == 1


async def test_stream_retried_before_first_event(srv: FakeModelServer) -> None:
    srv.fail_next(429, retry_after_ms=10)
    srv.disconnect_next()
    async with make(srv) as model:
        events = [e async for e in model.stream([Message.user("hi")])]
    assert isinstance(events[-1], ChatResponse)
    assert events[-1].message.text == "Echo: hi"
    assert len(srv.requests) == 3


async def test_stream_http_error_after_retries(srv: FakeModelServer) -> None:
    srv.fail_next(401, body='{"error": {"message": "no"}}')
    async with make(srv) as model:
        with pytest.raises(ModelHTTPError) as info:
            await consume(model.stream([Message.user("hi")]))
    assert info.value.status == 401
    assert len(srv.requests) == 1


async def test_dropped_connection_is_retried(srv: FakeModelServer) -> None:
    srv.disconnect_next()
    async with make(srv) as model:
        response = await model.complete([Message.user("hi")])
    assert response.message.text == "Echo: hi"
    assert len(srv.requests) == 2


async def test_connection_refused_names_url_not_key() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    async with OpenAIChatModel("m", base_url=url, api_key=KEY, retry=FAST) as model:
        with pytest.raises(ModelError) as info:
            await model.complete([Message.user("hi")])
    assert f"{url}/chat/completions" in str(info.value)
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)
    assert KEY not in repr(model)


async def test_one_session_reused_across_requests(srv: FakeModelServer) -> None:
    async with make(srv) as model:
        await model.complete([Message.user("1")])
        session = model._http.current
        await model.complete([Message.user("2")])
        _ = [e async for e in model.stream([Message.user("3")])]
        await model.complete([Message.user("4")])
        assert model._http.current is session
        assert session is not None
    assert session.closed
    assert len({r.peer for r in srv.requests}) == 1  # one keep-alive connection throughout


async def test_concurrent_requests_share_the_session(srv: FakeModelServer) -> None:
    async with make(srv) as model:
        results = await asyncio.gather(*(model.complete([Message.user(str(i))]) for i in range(20)))
    assert [r.message.text for r in results] == [f"Echo: {i}" for i in range(20)]


def test_model_survives_a_new_event_loop() -> None:
    server = FakeModelServer()
    with server.in_thread() as srv:
        model = OpenAIChatModel("m", base_url=srv.base_url)

        async def ask(text: str) -> str:
            return (await model.complete([Message.user(text)])).message.text

        assert asyncio.run(ask("one")) == "Echo: one"
        first = model._http.current
        # asyncio.run closed the session on its way out although aclose() was never called.
        assert first is not None
        assert first.closed
        assert asyncio.run(ask("two")) == "Echo: two"
        # A loop closed without that courtesy: the next loop discards its session. The
        # sockets left open by the dead loop can only be reclaimed by the GC.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            loop = asyncio.new_event_loop()
            assert loop.run_until_complete(ask("three")) == "Echo: three"
            stale = model._http.current
            loop.close()
            assert asyncio.run(ask("four")) == "Echo: four"
            assert stale is not None
            assert stale.closed
            del stale, loop
            gc.collect()
        asyncio.run(model.aclose())
    assert len(srv.requests) == 4


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    date = formatdate(time.time() + 10, usegmt=True)
    delay = parse_retry_after({"retry-after": date})
    assert delay is not None
    assert 8.0 < delay <= 10.0
    assert parse_retry_after({"retry-after": formatdate(time.time() - 60, usegmt=True)}) == 0.0


def test_backoff_grows_with_jitter_and_cap() -> None:
    policy = RetryPolicy(initial_delay=1.0, backoff_cap=4.0, jitter=0.25)
    for attempt, base in ((0, 1.0), (1, 2.0), (2, 4.0), (5, 4.0)):
        delay = policy.backoff(attempt)
        assert base * 0.75 <= delay <= base
    assert policy.is_retryable(429)
    assert policy.is_retryable(408)
    assert policy.is_retryable(599)
    assert not policy.is_retryable(400)
    assert not policy.is_retryable(404)
