"""web_request against loopback servers: the other runtime's parameters, settings and result."""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from aiohttp import web
from web_test_servers import LOOPBACK_V4, fake_dns, serve, tls_pair

from agentdown.messages import Content
from agentdown.tools import Tool, invoke_tool_call, tool_definition
from agentdown.tools.system import web_request_tool
from agentdown.tools.system.web_settings import parse_web_settings

HTTP = {"require_https": False}


def _tool(settings: dict[str, object] | None = None, **dns: list[str]) -> Tool:
    return web_request_tool(
        {**HTTP, **(settings or {})}, allow_addresses=LOOPBACK_V4, resolve_host=fake_dns(dns)
    )


async def _echo(request: web.Request) -> web.Response:
    raw = await request.read()
    resp = web.json_response(
        {
            "method": request.method,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": raw.decode("utf-8", "replace"),
        }
    )
    resp.headers["Set-Cookie"] = "session=secret"
    resp.headers["X-Served-By"] = "echo"
    return resp


async def test_get_with_headers_and_query_and_the_result_shape() -> None:
    tool = _tool()
    async with serve({"GET /echo": _echo}) as server:
        result = await tool.invoke(
            {
                "url": f"{server.url}/echo?a=1",
                "query": {"b": "two words"},
                "headers": {"X-Custom": "yes", "Host": "evil.test", "Content-Length": "99"},
            }
        )
    assert set(result) == {
        "status",
        "url",
        "content_type",
        "redirect_count",
        "response_headers",
        "body",
        "body_truncated",
        "body_omitted_reason",
    }
    assert result["status"] == 200
    assert result["url"] == f"{server.url}/echo"  # the query (it may hold keys) is not echoed
    assert result["content_type"].startswith("application/json")
    assert result["redirect_count"] == 0
    assert result["body_truncated"] is False and result["body_omitted_reason"] is None
    body = result["body"]
    assert body["query"] == {"a": "1", "b": "two words"}
    assert body["headers"]["X-Custom"] == "yes"
    assert body["headers"]["Host"] == f"127.0.0.1:{server.port}"  # the Host header was dropped
    assert "Set-Cookie" not in result["response_headers"]
    assert result["response_headers"]["X-Served-By"] == "echo"


async def test_json_and_raw_bodies() -> None:
    tool = _tool()
    async with serve({"POST /echo": _echo, "PUT /echo": _echo}) as server:
        posted = await tool.invoke(
            {
                "method": "POST",
                "url": f"{server.url}/echo",
                "json": {"x": [1, 2]},
                "headers": {"content-type": "text/x"},
            }
        )
        put = await tool.invoke({"method": "PUT", "url": f"{server.url}/echo", "body": "plain text"})
    assert posted["body"]["headers"]["Content-Type"] == "application/json"
    assert json.loads(posted["body"]["body"]) == {"x": [1, 2]}
    assert put["body"]["method"] == "PUT" and put["body"]["body"] == "plain text"


async def test_head_and_text_and_binary_bodies() -> None:
    async def png(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + bytes(100), content_type="image/png")

    async def untyped(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)  # no Content-Type: aiohttp adds one only to a Response
        await resp.write(b"\xff\xfe\x00\x01binary")
        return resp

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="héllo", content_type="text/plain")

    tool = _tool()
    async with serve({"GET /png": png, "GET /untyped": untyped, "GET /text": text}) as server:
        image = await tool.invoke({"url": f"{server.url}/png"})
        raw = await tool.invoke({"url": f"{server.url}/untyped"})
        plain = await tool.invoke({"url": f"{server.url}/text"})
        head = await tool.invoke({"method": "HEAD", "url": f"{server.url}/text"})
    assert image["body"] is None and image["body_omitted_reason"] == "binary"
    assert image["response_bytes"] == 108
    assert raw["body"] is None and raw["body_omitted_reason"] == "binary"
    assert plain["body"] == "héllo"
    assert head["status"] == 200 and head["body"] is None and head["body_omitted_reason"] == "head"


async def test_a_response_above_the_cap_is_truncated_and_the_server_is_unharmed() -> None:
    sent: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            for _ in range(100_000):  # 6.5 GB if anybody read it all
                await resp.write(b"[" + b"1," * 32_000 + b"1]")
                sent.append(1)
        except (ConnectionResetError, ConnectionError):
            pass
        return resp

    tool = _tool({"max_response_bytes": 10_000})
    async with serve({"GET /big": endless, "GET /echo": _echo}) as server:
        started = time.monotonic()
        result = await tool.invoke({"url": f"{server.url}/big"})
        assert time.monotonic() - started < 10
        assert result["body_truncated"] is True
        assert isinstance(result["body"], str) and len(result["body"]) == 10_000  # never parsed
        again = await tool.invoke({"url": f"{server.url}/echo"})
    assert again["status"] == 200
    assert len(sent) < 1000


async def test_a_compression_bomb_is_cut_at_the_cap_without_inflating_it() -> None:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * 1_000_000
    payload = b"".join(deflate.compress(zeros) for _ in range(50)) + deflate.flush()  # 50 MB inflated

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(body=payload, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    tool = _tool({"max_response_bytes": 10_000})
    async with serve({"GET /bomb": bomb}) as server:
        tracemalloc.start()
        try:
            result = await tool.invoke({"url": f"{server.url}/bomb"})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert result["body_truncated"] is True and len(result["body"]) == 10_000
    assert peak < 20_000_000


async def test_a_request_body_above_the_cap_is_not_sent() -> None:
    tool = _tool({"max_request_bytes": 1000})
    async with serve({"POST /echo": _echo}) as server:
        big = await tool.invoke({"method": "POST", "url": f"{server.url}/echo", "body": "x" * 1001})
        big_json = await tool.invoke({"method": "POST", "url": f"{server.url}/echo", "json": ["x" * 1000]})
        fits = await tool.invoke({"method": "POST", "url": f"{server.url}/echo", "body": "x" * 1000})
    assert big["reason"] == "request_too_large" and big_json["reason"] == "request_too_large"
    assert fits["status"] == 200
    assert len(server.hits) == 1


async def test_timeout() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(text="late")

    tool = _tool({"timeout_seconds": 0.3})
    async with serve({"GET /slow": slow}) as server:
        started = time.monotonic()
        result = await tool.invoke({"url": f"{server.url}/slow"})
    assert result["reason"] == "timeout" and "0.3 s" in result["error"]
    assert time.monotonic() - started < 3


async def test_require_https_is_the_default() -> None:
    tool = web_request_tool(True, allow_addresses=LOOPBACK_V4)
    async with serve({"GET /echo": _echo}) as server:
        result = await tool.invoke({"url": f"{server.url}/echo"})
    assert result == {
        "error": "Request blocked: https_required",
        "reason": "https_required",
        "redirect_count": 0,
    }
    assert server.hits == []


async def test_https_connects_to_the_checked_address_with_sni_and_host_of_the_name(tmp_path: Path) -> None:
    server_tls, client_tls = tls_pair(tmp_path, "api.example.test")
    tool = web_request_tool(
        {"allowed_hosts": ["api.example.test"]},
        allow_addresses=LOOPBACK_V4,
        resolve_host=fake_dns({"api.example.test": ["127.0.0.1"]}),
        tls=client_tls,
    )
    async with serve({"GET /echo": _echo}, tls=server_tls) as server:
        ok = await tool.invoke({"url": f"https://api.example.test:{server.port}/echo"})
        # The certificate is for the name: reaching the address by itself fails verification.
        tool_ip = web_request_tool(True, allow_addresses=LOOPBACK_V4, tls=client_tls)
        by_ip = await tool_ip.invoke({"url": f"https://127.0.0.1:{server.port}/echo"})
    assert ok["status"] == 200
    assert ok["body"]["headers"]["Host"] == f"api.example.test:{server.port}"
    assert by_ip["reason"] == "request_failed" and "Certificate" in by_ip["error"]


async def test_allowed_hosts_exact_and_wildcard() -> None:
    names = [
        "api.example.test",
        "a.svc.test",
        "a.b.svc.test",
        "svc.test",
        "badsvc.test",
        "other.test",
        "xn--bcher-kva.test",
    ]
    allowed = ["API.example.test.", "*.svc.test", "b\u00fccher.test"]
    tool = _tool({"allowed_hosts": allowed}, **{n: ["127.0.0.1"] for n in names})
    async with serve({"GET /echo": _echo}) as server:
        results = {n: await tool.invoke({"url": f"http://{n}:{server.port}/echo"}) for n in names}
    assert {n: r.get("status", r.get("reason")) for n, r in results.items()} == {
        "api.example.test": 200,
        "a.svc.test": 200,
        "a.b.svc.test": 200,
        "svc.test": "not_in_allowlist",  # a wildcard is for subdomains, not the apex
        "badsvc.test": "not_in_allowlist",
        "other.test": "not_in_allowlist",
        "xn--bcher-kva.test": 200,  # the IDNA form of an allowed Unicode name
    }
    assert len(server.hits) == 4


async def test_allowed_hosts_cannot_allow_a_private_address() -> None:
    tool = web_request_tool(
        {**HTTP, "allowed_hosts": ["intranet.test", "10.0.0.1"]},
        resolve_host=fake_dns({"intranet.test": ["10.0.0.1"]}),
    )
    assert (await tool.invoke({"url": "http://intranet.test/"}))["reason"] == "private"
    assert (await tool.invoke({"url": "http://10.0.0.1/"}))["reason"] == "private"


async def test_redirects_are_followed_and_credentials_stay_with_their_origin() -> None:
    async with serve({"GET /echo": _echo}) as other:

        async def hop(request: web.Request) -> web.Response:
            n = int(request.match_info["n"])
            raise web.HTTPFound(f"/hop/{n - 1}" if n > 1 else f"{other.url}/echo")

        async def see_other(request: web.Request) -> web.Response:
            raise web.HTTPSeeOther("/echo")

        async def temporary(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect("/echo")

        routes = {
            "GET /hop/{n}": hop,
            "POST /303": see_other,
            "POST /307": temporary,
            "POST /echo": _echo,
            "GET /echo": _echo,
        }
        async with serve(routes) as first:
            tool = _tool()
            followed = await tool.invoke(
                {"url": f"{first.url}/hop/3", "headers": {"Authorization": "Bearer s3cret", "X-Keep": "1"}}
            )
            post_303 = await tool.invoke({"method": "POST", "url": f"{first.url}/303", "body": "data"})
            post_307 = await tool.invoke({"method": "POST", "url": f"{first.url}/307", "body": "data"})
            too_many = await _tool({"max_redirects": 2}).invoke({"url": f"{first.url}/hop/3"})
            none = await _tool({"max_redirects": 0}).invoke({"url": f"{first.url}/hop/1"})
    assert followed["status"] == 200 and followed["redirect_count"] == 3
    assert followed["url"] == f"{other.url}/echo"
    assert "Authorization" not in followed["body"]["headers"]  # another origin (port)
    assert followed["body"]["headers"]["X-Keep"] == "1"
    assert [r.headers.get("Authorization") for r in first.hits[:3]] == ["Bearer s3cret"] * 3
    assert post_303["body"]["method"] == "GET" and post_303["body"]["body"] == ""
    assert post_307["body"]["method"] == "POST" and post_307["body"]["body"] == "data"
    assert too_many["status"] == 302 and too_many["redirect_count"] == 2
    assert none["status"] == 302 and none["redirect_count"] == 0
    assert none["response_headers"]["Location"] == f"{other.url}/echo"


async def test_failures_are_results_without_internal_details() -> None:
    tool = _tool()
    async with serve({"GET /echo": _echo}) as server:
        port = server.port
    closed = await tool.invoke({"url": f"http://127.0.0.1:{port}/echo?key=SECRET"})
    assert closed["reason"] == "request_failed"
    assert "SECRET" not in json.dumps(closed) and "Traceback" not in json.dumps(closed)
    async with serve({"GET /echo": _echo}) as server:
        crlf = await tool.invoke({"url": f"{server.url}/echo", "headers": {"X-A": "a\r\nX-Injected: 1"}})
    assert crlf["reason"] == "invalid_request"
    assert server.hits == []
    bad = await tool.invoke({"url": "http://[::1"})
    assert bad["reason"] == "malformed_url"


async def test_bad_arguments_come_back_readable() -> None:
    tool = _tool()
    both = await tool.invoke({"url": "http://x.test/", "body": "a", "json": {"a": 1}})
    assert both["reason"] == "invalid_arguments" and "mutually exclusive" in both["error"]
    method = await tool.invoke({"url": "http://x.test/", "method": "BREW"})
    assert method["reason"] == "invalid_arguments" and "method" in method["error"]
    outcome = await invoke_tool_call(
        tool, Content.from_tool_call("web_request", {"url": 5, "extra": True}, call_id="c1")
    )
    assert outcome.result.is_error and "url" in str(outcome.result.text)


def test_it_is_a_tool_with_the_other_runtimes_schema() -> None:
    tool = web_request_tool(True)
    assert isinstance(tool, Tool)
    definition = tool_definition(tool)
    assert definition.name == "web_request"
    params = tool.parameters
    assert set(params["properties"]) == {"method", "url", "headers", "query", "body", "json"}
    assert params["required"] == ["url"]
    assert "5" in tool.description  # the redirect limit it follows


def test_settings() -> None:
    assert parse_web_settings(True) == parse_web_settings(None) == parse_web_settings({})
    defaults = parse_web_settings({})
    assert (defaults.require_https, defaults.timeout_seconds) == (True, 30.0)
    assert (defaults.max_response_bytes, defaults.max_request_bytes) == (5_000_000, 1_000_000)
    clamped = parse_web_settings({"timeout_seconds": 1000, "max_response_bytes": 10**12})
    assert (clamped.timeout_seconds, clamped.max_response_bytes) == (120.0, 10_000_000)
    for bad in (
        False,
        {"allowed_host": ["x"]},
        {"allowed_hosts": "x.test"},
        {"allowed_hosts": ["http://x.test/"]},
        {"allowed_hosts": ["a.*.test"]},
        {"require_https": "no"},
        {"timeout_seconds": -1},
        {"max_redirects": -1},
    ):
        with pytest.raises(ValueError):
            parse_web_settings(bad)  # type: ignore[arg-type]
