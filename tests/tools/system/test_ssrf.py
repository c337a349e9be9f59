"""The SSRF guard: every target here is refused, and a live loopback server proves no
request reached it (refused, not merely unreachable)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from aiohttp import web
from web_test_servers import LOOPBACK_V4, RebindingDNS, fake_dns, serve

from agentdown.tools.system import web_request_tool
from agentdown.tools.system.ssrf import AddressPolicy, Guard, RefusedTarget, check_host, refusal_reason

DNS = fake_dns(
    {
        "internal.test": ["10.1.2.3"],
        "meta.test": ["169.254.169.254"],
        "mixed.test": ["93.184.216.34", "127.0.0.1"],
        "mapped.test": ["::ffff:10.0.0.1"],
        "v6loop.test": ["::1"],
        "ula.test": ["fd12:3456::1"],
        "cgnat.test": ["100.100.1.1"],
        "nat64.test": ["64:ff9b::a9fe:a9fe"],
        "garbage.test": ["not-an-ip"],
        "decimal.test": ["2130706433"],  # a resolver answer in a form socket APIs would accept
    }
)

# (url with {port} = the live server's port, expected reason)
REFUSED: list[tuple[str, str]] = [
    ("http://127.0.0.1:{port}/", "loopback"),
    ("http://127.0.0.2:{port}/", "loopback"),
    ("http://2130706433:{port}/", "non_canonical_ip"),  # decimal
    ("http://0177.0.0.1:{port}/", "non_canonical_ip"),  # octal
    ("http://0x7f.1:{port}/", "non_canonical_ip"),  # hex, short
    ("http://0x7f000001:{port}/", "non_canonical_ip"),  # hex
    ("http://127.1:{port}/", "non_canonical_ip"),  # short form
    ("http://0:{port}/", "non_canonical_ip"),
    ("http://127.0.0.1.:{port}/", "loopback"),  # trailing dot
    ("http://[::1]:{port}/", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]:{port}/", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/", "loopback"),  # IPv4-mapped
    ("http://[::ffff:7f00:1]:{port}/", "loopback"),  # mapped, hex
    ("http://[::127.0.0.1]:{port}/", "loopback"),  # IPv4-compatible
    ("http://[64:ff9b::7f00:1]:{port}/", "loopback"),  # NAT64
    ("http://[2002:7f00:1::]:{port}/", "loopback"),  # 6to4
    ("http://[fe80::1%25lo]:{port}/", "zone_id"),
    ("http://[fe80::1]:{port}/", "link_local"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://169.254.1.1/", "link_local"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[::ffff:a00:1]/", "private"),
    ("http://100.64.0.1/", "cgnat"),
    ("http://[fc00::1]/", "ula"),
    ("http://[fd12::1]/", "ula"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0:{port}/", "unspecified"),
    ("http://[::]:{port}/", "unspecified"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.1/", "documentation"),
    ("http://[2001:db8::1]/", "documentation"),
    ("http://localhost:{port}/", "loopback"),
    ("http://LOCALHOST.:{port}/", "loopback"),
    ("http://api.localhost:{port}/", "loopback"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{port}/", "loopback"),  # full-width digits
    ("http://\u24dbocalhost:{port}/", "loopback"),  # circled l: IDNA maps it to localhost
    ("http://\u2460\u2461\u2466.0.0.1:{port}/", "loopback"),  # circled digits
    ("http://127\u30020\u30020\u30021:{port}/", "loopback"),  # ideographic full stops
    ("http://0x7F.0.0.1:{port}/", "non_canonical_ip"),
    ("http://internal.test\\@127.0.0.1:{port}/", "malformed_url"),  # parser confusion
    ("http://internal.test:{port}/", "private"),  # name -> RFC 1918
    ("http://meta.test/", "metadata"),
    ("http://mixed.test:{port}/", "loopback"),  # one bad address refuses them all
    ("http://mapped.test/", "private"),
    ("http://v6loop.test:{port}/", "loopback"),
    ("http://ula.test/", "ula"),
    ("http://cgnat.test/", "cgnat"),
    ("http://nat64.test/", "metadata"),
    ("http://garbage.test/", "dns_resolution_failed"),
    ("http://decimal.test:{port}/", "dns_resolution_failed"),
    ("http://nowhere.test/", "dns_resolution_failed"),
    ("http://user:pw@internal.test/", "userinfo_not_allowed"),
    ("file:///etc/passwd", "unsupported_scheme"),
    ("http:///path-only", "malformed_url"),
    ("ftp://internal.test/", "unsupported_scheme"),
    ("gopher://127.0.0.1:{port}/_x", "unsupported_scheme"),
]


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="reached")


@pytest.mark.parametrize(("url", "reason"), REFUSED, ids=[u for u, _ in REFUSED])
async def test_refused_targets_never_reach_the_server(url: str, reason: str) -> None:
    tool = web_request_tool({"require_https": False, "timeout_seconds": 5}, resolve_host=DNS)
    async with serve({"GET /{tail:.*}": _ok}) as server:
        result = await tool.invoke({"url": url.format(port=server.port)})
    assert result["reason"] == reason, result
    assert result["error"] == f"Request blocked: {reason}"
    assert server.hits == []


ALLOWED = [
    "http://127.0.0.1:{port}/p?q=1",
    "http://api.test:{port}/p",
    "http://API.Test.:{port}/p",  # case and trailing dot
    "http://b\u00fccher.test:{port}/p",  # IDNA: resolved as xn--bcher-kva.test
    "http://multi.test:{port}/p",  # every address allowed
]


@pytest.mark.parametrize("url", ALLOWED)
async def test_allowed_targets_reach_the_server(url: str) -> None:
    dns = fake_dns(
        {
            "api.test": ["127.0.0.1"],
            "xn--bcher-kva.test": ["127.0.0.1"],
            "multi.test": ["127.0.0.1", "127.0.0.1"],
        }
    )
    tool = web_request_tool({"require_https": False}, allow_addresses=LOOPBACK_V4, resolve_host=dns)
    async with serve({"GET /p": _ok}) as server:
        result = await tool.invoke({"url": url.format(port=server.port)})
    assert result["status"] == 200 and result["body"] == "reached", result
    assert len(server.hits) == 1


async def test_refused_even_with_an_allow_list_for_other_addresses() -> None:
    # The test-only allow-list lets through exactly what it names, nothing more.
    tool = web_request_tool({"require_https": False}, allow_addresses=LOOPBACK_V4, resolve_host=DNS)
    async with serve({"GET /": _ok}) as server:
        other = await tool.invoke({"url": f"http://127.0.0.2:{server.port}/"})
        allowed = await tool.invoke({"url": f"{server.url}/"})
    assert other["reason"] == "loopback"
    assert allowed["status"] == 200 and allowed["body"] == "reached"
    assert len(server.hits) == 1


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_targets_with_the_allow_list() -> None:
    dns = fake_dns({"six.test": ["::1"]})
    tool = web_request_tool({"require_https": False}, allow_addresses=["::1/128"], resolve_host=dns)
    async with serve({"GET /": _ok}, host="::1") as server:
        literal = await tool.invoke({"url": f"{server.url}/"})
        named = await tool.invoke({"url": f"http://six.test:{server.port}/"})
        # The IPv4 loopback is not on this allow-list, in any of its forms.
        mapped = await tool.invoke({"url": f"http://[::ffff:127.0.0.1]:{server.port}/"})
    assert literal["status"] == named["status"] == 200
    assert mapped["reason"] == "loopback"
    assert len(server.hits) == 2


async def test_rebinding_dns_is_asked_once_and_the_checked_address_is_used() -> None:
    # Public (here: the allowed test address) first, loopback after: a checker that
    # resolved again to connect would reach 127.0.0.2. We resolve once, connect to that.
    dns = RebindingDNS(first="127.0.0.1", then="127.0.0.2")
    tool = web_request_tool({"require_https": False}, allow_addresses=LOOPBACK_V4, resolve_host=dns)
    async with serve({"GET /": _ok}) as server:
        first = await tool.invoke({"url": f"http://rebind.test:{server.port}/"})
        assert first["status"] == 200
        assert dns.calls == 1
        assert server.hits[0].host == f"rebind.test:{server.port}"  # Host stays the name
        second = await tool.invoke({"url": f"http://rebind.test:{server.port}/"})
    assert second["reason"] == "loopback"
    assert len(server.hits) == 1


async def test_redirects_into_refused_addresses_are_not_followed() -> None:
    targets = [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/",
        "http://127.0.0.2:{port}/",
        "http://2130706433:{port}/",
        "http://internal.test/",
        "http://localhost:{port}/",
        "file:///etc/passwd",
    ]
    async with serve({"GET /": _ok}, host="127.0.0.2") as inside:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(targets[int(request.query["i"])].format(port=inside.port))

        tool = web_request_tool({"require_https": False}, allow_addresses=LOOPBACK_V4, resolve_host=DNS)
        async with serve({"GET /r": redirect}) as outside:
            results = [await tool.invoke({"url": f"{outside.url}/r?i={i}"}) for i in range(len(targets))]
    assert [r.get("reason") for r in results] == [
        "private",
        "metadata",
        "loopback",
        "loopback",
        "non_canonical_ip",
        "private",
        "loopback",
        "unsupported_scheme",
    ]
    assert all(r["redirect_count"] == 1 for r in results)
    assert inside.hits == []


def test_refusal_reasons_of_addresses() -> None:
    cases = {
        "8.8.8.8": None,
        "2606:4700:4700::1111": None,
        "::ffff:8.8.8.8": None,
        "64:ff9b::808:808": None,
        "198.18.0.1": "reserved",
        "192.88.99.1": "reserved",
        "2001::1": "reserved",
        "fec0::1": "reserved",
        "3fff::1": "documentation",
        "2002:a00:1::": "private",
        "64:ff9b:1::1": "reserved",
    }
    for text, reason in cases.items():
        assert refusal_reason(ipaddress.ip_address(text)) == reason, text


def test_check_host_returns_a_literal_and_refuses_odd_names() -> None:
    policy = AddressPolicy()
    assert check_host("8.8.8.8", policy) == ipaddress.ip_address("8.8.8.8")
    assert check_host("example.com", policy) is None
    for host in ("", "a b", "1.2.3.4.5", "example.0x10", "ex:ample"):
        with pytest.raises(RefusedTarget):
            check_host(host, policy)


def test_the_socket_factory_refuses_what_was_not_checked() -> None:
    # aiohttp's last step before connect(): an address nobody checked is refused even when
    # the policy would allow it, so no code path can connect around the resolver.
    guard = Guard(AddressPolicy.allowing(LOOPBACK_V4))
    info: tuple[Any, ...] = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))
    with pytest.raises(RefusedTarget) as refused:
        guard.socket_factory(info)
    assert refused.value.reason == "unchecked_address"
    for odd in ("2130706433", "127.1", "10.0.0.1"):
        with pytest.raises(RefusedTarget):
            guard.socket_factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", (odd, 80)))
    guard.check_host("127.0.0.1")
    guard.socket_factory(info).close()
