"""Loopback aiohttp servers and a fake resolver for the web_request / OpenAPI tests.

No test here touches real DNS or any network but loopback: names resolve through
:func:`fake_dns`, which raises for any name it was not given.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

LOOPBACK_V4 = ["127.0.0.1/32"]
"""The test-only allow-list: only the address the test servers listen on."""


@dataclass
class Served:
    url: str
    port: int
    hits: list[web.Request] = field(default_factory=list)


@asynccontextmanager
async def serve(
    routes: Mapping[str, Callable[[web.Request], Awaitable[web.StreamResponse]]],
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[Served]:
    """Start a server on ``host`` (a free port); ``routes`` maps ``"METHOD /path"`` to handlers."""
    served = Served("", 0)

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        served.hits.append(request)
        return await handler(request)

    app = web.Application(middlewares=[count])
    for key, handler in routes.items():
        method, path = key.split(" ", 1)
        if method == "GET":
            app.router.add_get(path, handler)  # answers HEAD too
        else:
            app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=tls)
    await site.start()
    served.port = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    served.url = f"{'https' if tls else 'http'}://{shown}:{served.port}"
    try:
        yield served
    finally:
        await runner.cleanup()


def fake_dns(table: Mapping[str, Sequence[str]]) -> Callable[[str], Awaitable[list[str]]]:
    """A resolver answering from ``table``; unknown names fail like NXDOMAIN."""

    async def lookup(host: str) -> list[str]:
        host = host.rstrip(".")  # as real DNS does: the name is absolute either way
        if host not in table:
            raise OSError(f"no such host {host!r} (fake DNS)")
        return list(table[host])

    return lookup


class RebindingDNS:
    """Answers ``first`` on the first lookup and ``then`` on every later one (a rebinding attack)."""

    def __init__(self, first: str, then: str) -> None:
        self.first, self.then, self.calls = first, then, 0

    async def __call__(self, host: str) -> list[str]:
        self.calls += 1
        return [self.first if self.calls == 1 else self.then]


def tls_pair(tmp: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for ``name``, client context trusting only its CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agentdown test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "leaf.pem", tmp / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client
