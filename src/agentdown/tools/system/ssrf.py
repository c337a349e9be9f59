"""The SSRF guard of ``web_request`` and the OpenAPI tools: which addresses may be reached.

Three checks, each on what aiohttp will actually use (its parsed ``yarl`` URL host,
not our own re-parse of the string the model wrote):

1. :func:`check_host` before any connection: zone ids, literal IPs in any notation
   (decimal, octal, hex, short forms are refused outright since the resolver and
   the URL parser read them differently) and ``localhost`` names;
2. :class:`GuardedResolver`: resolves a name once (the system resolver, or one a test
   injects), checks every address and returns only checked ones, so a rebinding DNS
   server cannot answer differently on the second lookup: there is none;
3. :meth:`Guard.socket_factory`: the last word, called by aiohttp with the exact
   address it is about to connect to; anything not checked by (1) or (2) is refused.

No configuration turns this off. ``allow`` (test-only, a factory keyword argument,
never read from settings or the environment) lists networks to let through anyway.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import aiohttp.abc

__all__ = [
    "AddressPolicy",
    "Guard",
    "GuardedResolver",
    "HostLookup",
    "IPAddress",
    "IPNetwork",
    "RefusedTarget",
    "check_host",
    "refusal_reason",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
HostLookup: TypeAlias = Callable[[str], Awaitable[Sequence[str]]]
"""``async (host name) -> addresses``: how a name is resolved (tests inject one)."""


class RefusedTarget(OSError):
    """A destination the guard refuses; ``reason`` is a short, safe category for the model.

    An ``OSError`` so that aiohttp passes it through its connection machinery as a
    connection failure instead of crashing on it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"destination refused ({reason})")
        self.reason = reason


def _nets(*specs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), reason) for net, reason in specs)


# Order matters: the most specific reason first (the metadata address is also link-local).
_V4_REFUSED = _nets(
    ("169.254.169.254/32", "metadata"),
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "cgnat"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link_local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_V6_REFUSED = _nets(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fd00:ec2::254/128", "metadata"),
    ("fc00::/7", "ula"),
    ("fe80::/10", "link_local"),
    ("fec0::/10", "reserved"),
    ("ff00::/8", "multicast"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("100::/64", "reserved"),
    ("64:ff9b:1::/48", "reserved"),
    # Teredo: the client's IPv4 address is obfuscated inside; nobody needs it here.
    ("2001::/32", "reserved"),
)
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form reaches: mapped, compatible, NAT64 or 6to4."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _V4_COMPATIBLE or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be reached (``"loopback"``, ``"private"``...), or ``None``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "zone_id"
        for net, reason in _V6_REFUSED:
            if ip in net:
                return reason
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return refusal_reason(inner)
    else:
        for net, reason in _V4_REFUSED:
            if ip in net:
                return reason
    return None if ip.is_global else "not_global"


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """The refusal rules, with ``allow``: networks let through anyway (tests only)."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str | IPNetwork] = ()) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def reason(self, ip: IPAddress) -> str | None:
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        return refusal_reason(ip)


# A real top-level domain is never all digits; a host whose last label is (or that is
# made of numbers and 0x-hex only) is an IPv4 literal in a notation socket APIs accept
# (2130706433, 0177.0.0.1, 0x7f.1, 127.1) and ipaddress does not.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


def _parse_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_host(host: str, policy: AddressPolicy) -> IPAddress | None:
    """Refuse a host that can be refused without resolving; return it if it is an IP.

    ``host`` is the URL host as aiohttp's ``yarl`` parsed it (IDNA applied, so
    full-width digits already read as ASCII ones).
    """
    name = host.strip().rstrip(".").lower()
    if not name:
        raise RefusedTarget("malformed_url")
    if "%" in name:
        raise RefusedTarget("zone_id")
    literal = _parse_literal(name)
    if literal is not None:
        reason = policy.reason(literal)
        if reason is not None:
            raise RefusedTarget(reason)
        return literal
    labels = name.split(".")
    if _NUMERIC_LABEL.match(labels[-1]) or all(_NUMERIC_LABEL.match(label) for label in labels):
        raise RefusedTarget("non_canonical_ip")
    if name == "localhost" or name.endswith(".localhost"):
        # RFC 6761: these names are loopback whatever a resolver says.
        raise RefusedTarget("loopback")
    if ":" in name or not re.fullmatch(r"[a-z0-9_.-]+", name):
        raise RefusedTarget("malformed_url")
    return None


async def system_lookup(host: str) -> list[str]:
    """The platform resolver (``getaddrinfo``), run off the event loop by asyncio."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(slots=True)
class Guard:
    """One call's guard: what was checked, and why something was refused.

    aiohttp wraps what the resolver and socket factory raise in its own errors; the
    guard remembers the refusal so the tool can tell the model the real reason.
    """

    policy: AddressPolicy
    lookup: HostLookup = system_lookup
    checked: set[IPAddress] = field(default_factory=set)
    refusal: str | None = None

    def refuse(self, reason: str) -> RefusedTarget:
        self.refusal = reason
        return RefusedTarget(reason)

    def check_host(self, host: str) -> None:
        """:func:`check_host`, remembering a literal IP as checked."""
        try:
            literal = check_host(host, self.policy)
        except RefusedTarget as exc:
            raise self.refuse(exc.reason) from None
        if literal is not None:
            self.checked.add(literal)

    async def resolve(self, host: str) -> list[IPAddress]:
        """Every address of ``host``, all checked; one refused address refuses them all."""
        try:
            raw = await self.lookup(host)
        except RefusedTarget as exc:
            raise self.refuse(exc.reason) from None
        except (OSError, UnicodeError, ValueError):
            raise self.refuse("dns_resolution_failed") from None
        addresses: list[IPAddress] = []
        for text in raw:
            ip = _parse_literal(str(text))
            if ip is None:
                raise self.refuse("dns_resolution_failed")
            reason = self.policy.reason(ip)
            if reason is not None:
                raise self.refuse(reason)
            addresses.append(ip)
        if not addresses:
            raise self.refuse("dns_resolution_failed")
        self.checked.update(addresses)
        return addresses

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's socket factory: refuses any address this guard did not check."""
        family, type_, proto, _, sockaddr = addr_info
        ip = _parse_literal(str(sockaddr[0]))
        if ip is None:
            raise self.refuse("non_canonical_ip")
        reason = self.policy.reason(ip)
        if reason is not None:
            raise self.refuse(reason)
        if ip not in self.checked:
            raise self.refuse("unchecked_address")
        return socket.socket(family=family, type=type_, proto=proto)


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """An aiohttp resolver returning only addresses its :class:`Guard` checked.

    ``hostname`` stays the name from the URL, so TLS verifies and sends SNI for it.
    """

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        self._guard.check_host(host)
        literal = _parse_literal(host)
        addresses = [literal] if literal is not None else await self._guard.resolve(host)
        return [
            aiohttp.abc.ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in addresses
        ]

    async def close(self) -> None:
        return None
