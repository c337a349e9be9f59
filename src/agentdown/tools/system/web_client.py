"""One guarded HTTP exchange: redirects re-checked per hop, caps while streaming, a result dict.

Shared by ``web_request`` and the OpenAPI tools. Never raises for anything the model
or the remote server can cause: failures come back as ``{"error", "reason"}`` with a
short message (aiohttp's messages can carry the URL with its query, so only the
exception's type name is used).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentdown.lazy import lazy_module

if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = lazy_module("aiohttp")  # first used on a call: off the cold start
from multidict import CIMultiDictProxy
from yarl import URL

from agentdown.tools.system.ssrf import (
    AddressPolicy,
    Guard,
    GuardedResolver,
    HostLookup,
    RefusedTarget,
    system_lookup,
)
from agentdown.tools.system.web_settings import WebSettings, host_allowed

__all__ = ["OutgoingRequest", "error_result", "send"]

logger = logging.getLogger("agentdown.tools.system")

_CHUNK = 65536
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

# Headers the caller cannot set: they could break framing or steer proxies.
REQUEST_HEADER_DENYLIST = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
    }
)
# Never shown to the model (cookies and credentials of the remote site).
RESPONSE_HEADER_REDACT = frozenset(
    {"set-cookie", "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate", "cookie"}
)
# Not carried to another origin by a redirect.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_TEXT_HINTS = ("json", "xml", "javascript", "ecmascript", "x-www-form-urlencoded", "csv", "yaml", "graphql")


@dataclass(slots=True)
class OutgoingRequest:
    """What to send. ``secret_headers`` (injected credentials) stay with the first origin."""

    method: str
    url: URL
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    secret_headers: frozenset[str] = frozenset()


def error_result(reason: str, message: str, **extra: Any) -> dict[str, Any]:
    """The result the model reads when a call did not happen or failed."""
    return {"error": message, "reason": reason, **extra}


def blocked(reason: str, **extra: Any) -> dict[str, Any]:
    return error_result(reason, f"Request blocked: {reason}", **extra)


def _precheck(url: URL, settings: WebSettings, guard: Guard) -> None:
    scheme = (url.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise guard.refuse("unsupported_scheme")
    # raw_host (IDNA-encoded) is what aiohttp resolves and connects to.
    host = url.raw_host
    if not host:
        raise guard.refuse("malformed_url")
    if settings.require_https and scheme != "https":
        raise guard.refuse("https_required")
    if url.user is not None or url.password is not None:
        raise guard.refuse("userinfo_not_allowed")
    if not host_allowed(host, settings.allowed_hosts):
        raise guard.refuse("not_in_allowlist")
    guard.check_host(host)


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_binary(content_type: str | None, data: bytes) -> bool:
    mime = _mime(content_type)
    if not mime:
        # No type given: text unless it does not read as UTF-8 text (ours; theirs says text).
        try:
            return "\x00" in data.decode("utf-8")
        except UnicodeDecodeError:
            return True
    return not mime.startswith("text/") and not any(hint in mime for hint in _TEXT_HINTS)


def _body(method: str, content_type: str | None, data: bytes, truncated: bool) -> tuple[Any, str | None]:
    if method == "HEAD":
        return None, "head"
    if _is_binary(content_type, data):
        return None, "binary"
    text = data.decode("utf-8", errors="replace")
    mime = _mime(content_type)
    if not truncated and (mime in ("application/json", "text/json") or mime.endswith("+json")):
        try:
            return json.loads(text), None
        except ValueError:
            return text, None
    # A truncated body is never parsed: it is likely cut mid-value.
    return text, None


def _headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.items():
        if key.lower() in RESPONSE_HEADER_REDACT:
            continue
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        if total + len(chunk) > cap:
            chunks.append(chunk[: cap - total])
            # Stop here: the rest is never read; the connection is closed, not drained.
            return b"".join(chunks), True
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks), False


def public_url(url: URL) -> str:
    """The URL shown back: no userinfo, query (it may hold keys) or fragment."""
    return str(url.with_user(None).with_query(None).with_fragment(None))


@dataclass(slots=True)
class _Progress:
    hops: int = 0


async def _exchange(
    session: aiohttp.ClientSession,
    request: OutgoingRequest,
    settings: WebSettings,
    guard: Guard,
    progress: _Progress,
) -> dict[str, Any]:
    url, method, body = request.url, request.method.upper(), request.body
    headers = dict(request.headers)
    hops = 0
    while True:
        progress.hops = hops
        try:
            _precheck(url, settings, guard)
        except RefusedTarget as exc:
            return blocked(exc.reason, redirect_count=hops)
        async with session.request(
            method, url, headers=headers, data=body, allow_redirects=False
        ) as response:
            location = response.headers.get("Location")
            if response.status in _REDIRECTS and location and hops < settings.max_redirects:
                try:
                    target = url.join(URL(location))
                except ValueError:
                    return error_result(
                        "bad_redirect", "the server redirected to an invalid URL", redirect_count=hops
                    )
                hops += 1
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method = "GET" if method != "HEAD" else "HEAD"
                    body = None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
                    dropped = _CREDENTIAL_HEADERS | {h.lower() for h in request.secret_headers}
                    headers = {k: v for k, v in headers.items() if k.lower() not in dropped}
                url = target.with_fragment(None)
                continue
            data, truncated = (
                (b"", False)
                if method == "HEAD"
                else await _read_capped(response, settings.max_response_bytes)
            )
            content_type = response.headers.get("Content-Type")
            value, omitted = _body(method, content_type, data, truncated)
            result: dict[str, Any] = {
                "status": response.status,
                "url": public_url(url),
                "content_type": content_type,
                "redirect_count": hops,
                "response_headers": _headers(response.headers),
                "body": value,
                "body_truncated": truncated,
                "body_omitted_reason": omitted,
            }
            if omitted == "binary":
                result["response_bytes"] = len(data)
            return result


async def send(
    request: OutgoingRequest,
    settings: WebSettings,
    *,
    policy: AddressPolicy,
    lookup: HostLookup | None = None,
    tls: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """Send ``request`` through the guard; the result dict (never raises for I/O).

    ``tls`` replaces the default certificate verification (tests trust their own CA).
    """
    if request.body is not None and len(request.body) > settings.max_request_bytes:
        return error_result(
            "request_too_large",
            f"the request body is {len(request.body)} bytes; the limit is {settings.max_request_bytes}",
        )
    guard = Guard(policy, lookup or system_lookup)
    progress = _Progress()
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(guard),
        use_dns_cache=False,
        force_close=True,
        socket_factory=guard.socket_factory,
        ssl=tls if tls is not None else True,
    )
    try:
        async with aiohttp.ClientSession(
            connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        ) as session:
            async with asyncio.timeout(settings.timeout_seconds):
                return await _exchange(session, request, settings, guard, progress)
    except TimeoutError:
        message = f"the request timed out after {settings.timeout_seconds:g} s"
        return error_result("timeout", message, redirect_count=progress.hops)
    except RefusedTarget as exc:
        return blocked(exc.reason, redirect_count=progress.hops)
    except (aiohttp.ClientError, OSError) as exc:
        if guard.refusal is not None:
            return blocked(guard.refusal, redirect_count=progress.hops)
        logger.info("web request failed: %s", type(exc).__name__)
        message = f"request failed: {type(exc).__name__}"
        return error_result("request_failed", message, redirect_count=progress.hops)
    except (ValueError, UnicodeError) as exc:
        # aiohttp refuses header values with CR/LF and the like before sending.
        logger.info("web request not sent: %s", type(exc).__name__)
        message = "the request could not be sent: invalid URL or header value"
        return error_result("invalid_request", message, redirect_count=progress.hops)
