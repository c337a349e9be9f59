"""Who may call what: Azure Functions auth levels, Entra principals, loopback Host checks.

Levels as in Azure Functions: ``anonymous`` (no key), ``function`` (a function key or
the master key), ``admin`` (the master key). ``entra`` (the agents runtime's addition)
accepts a request carrying an ``X-MS-CLIENT-PRINCIPAL`` that a front end validated
(App Service Authentication); the server never validates tokens itself, and it fails
closed unless told it sits behind such a front end (``trust_client_principal``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from agentdown.app.spec import EntraAuth, HttpAuth
from agentdown.server.errors import ApiError, json_error
from agentdown.server.settings import Keys, is_loopback

__all__ = ["AccessLevel", "Authorizer", "LoopbackHostGuard", "gate_level"]

AccessLevel = Literal["anonymous", "function", "admin"]
_RANK: dict[str, int] = {"anonymous": 0, "function": 1, "entra": 1, "admin": 2}
_KEY_HINT = "send it as the x-functions-key header, Authorization: Bearer <key>, or ?code=<key>"


def gate_level(modes: Iterable[str]) -> AccessLevel:
    """The key level at the door of an endpoint shared by agents (``/mcp``, ``/v1``).

    The loosest of the agents' modes: each agent's own mode is then checked per call,
    so a function key cannot reach an ``admin`` agent behind a ``function`` door.
    ``entra`` needs no key at the door (its principal is checked per call).
    """
    ranks = [0 if m == "entra" else _RANK.get(m, 1) for m in modes]
    rank = min(ranks, default=1)
    return "anonymous" if rank == 0 else "admin" if rank == 2 else "function"


def presented_key(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("x-functions-key")
    if header:
        return header.strip()
    authorization = conn.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    code = conn.query_params.get("code")
    return code.strip() if code else None


class Authorizer:
    """Checks requests against the configured keys and Entra allow-lists."""

    def __init__(
        self, keys: Keys, *, trust_client_principal: bool = False, environ: Mapping[str, str] | None = None
    ) -> None:
        self.keys = keys
        self.trust_client_principal = trust_client_principal
        self._environ = os.environ if environ is None else environ

    def key_level(self, conn: HTTPConnection) -> AccessLevel:
        """The highest level the request's key grants (``anonymous`` when it has none that matches)."""
        if not self.keys.configured:
            return "admin"  # no keys: checks are off, as under `func start`
        key = presented_key(conn)
        if key is None:
            return "anonymous"
        if self.keys.master is not None and hmac.compare_digest(key.encode(), self.keys.master.encode()):
            return "admin"
        # Compare with every key so the time taken does not tell which one came close.
        matched = False
        for candidate in self.keys.function:
            matched |= hmac.compare_digest(key.encode(), candidate.encode())
        return "function" if matched else "anonymous"

    def require(self, conn: HTTPConnection, level: AccessLevel) -> None:
        """Raise a 401 :class:`ApiError` unless the request's key grants ``level``."""
        if level == "anonymous":
            return
        granted = self.key_level(conn)
        if _RANK[granted] >= _RANK[level]:
            return
        if presented_key(conn) is None:
            needed = "the master key" if level == "admin" else "an access key"
            raise ApiError(401, f"this endpoint needs {needed}: {_KEY_HINT}", "unauthorized")
        what = "the master key" if level == "admin" else "a valid function key or the master key"
        raise ApiError(401, f"the key is not accepted here: this endpoint needs {what}", "unauthorized")

    def admits_all(self, auth: HttpAuth) -> bool:
        """Whether :meth:`require_agent` lets every request through for ``auth``.

        So a hot path can skip building the request's view when there is nothing to check:
        ``anonymous``, or any key mode while no key is configured (checks are off, as under
        ``func start``). ``entra`` always checks (its principal scopes the caller's records).
        """
        return auth.mode != "entra" and (auth.mode == "anonymous" or not self.keys.configured)

    def require_agent(self, conn: HTTPConnection, auth: HttpAuth) -> str | None:
        """Check a request against an agent's ``http_auth``; returns the caller's principal, if known.

        Sessions are scoped to the principal, so with a trusted front end that names the
        caller, one user cannot read or continue another user's sessions.
        """
        if auth.mode != "entra":
            self.require(conn, auth.mode)
        else:
            self._require_entra(conn, auth.entra)
        return self.principal(conn)

    def principal(self, conn: HTTPConnection) -> str | None:
        """A stable id of the authenticated caller (from ``X-MS-CLIENT-PRINCIPAL``), when trusted."""
        if not self.trust_client_principal:
            return None
        header = conn.headers.get("x-ms-client-principal")
        decoded = _decode_principal(header) if header else None
        if decoded is None:
            return None
        claims = _claims(decoded)
        for claim in ("oid", "sub", "nameidentifier"):
            values = claims.get(claim)
            if values:
                tenant = (claims.get("tid") or [""])[0]
                return f"{decoded.get('auth_typ') or ''}:{tenant}:{values[0]}"
        return None

    def _require_entra(self, conn: HTTPConnection, entra: EntraAuth | None) -> None:
        if not self.trust_client_principal:
            raise ApiError(
                401,
                "this agent uses http_auth: entra, which needs a front end that validates Entra ID tokens "
                "and sets X-MS-CLIENT-PRINCIPAL (App Service Authentication); when the server runs behind "
                "one, set AGENTDOWN_TRUST_CLIENT_PRINCIPAL=true",
                "unauthorized",
            )
        header = conn.headers.get("x-ms-client-principal")
        if not header:
            raise ApiError(401, "Entra authentication required: no X-MS-CLIENT-PRINCIPAL", "unauthorized")
        principal = _decode_principal(header)
        if principal is None:
            raise ApiError(401, "invalid X-MS-CLIENT-PRINCIPAL header", "unauthorized")
        kind = principal.get("auth_typ")
        if not isinstance(kind, str) or kind.lower() not in ("aad", "azureactivedirectory"):
            raise ApiError(
                401, "Entra authentication required: the principal is not an Entra ID one", "unauthorized"
            )
        problem = self._allow_lists(_claims(principal), entra)
        if problem is not None:
            raise ApiError(403, problem, "forbidden")

    def _allow_lists(self, claims: dict[str, list[str]], entra: EntraAuth | None) -> str | None:
        tenant = (entra.tenant_id if entra else None) or self._env("AZURE_FUNCTIONS_AGENTS_ENTRA_TENANT_ID")
        if tenant and tenant not in claims.get("tid", []):
            return "the token's tenant is not allowed"
        audiences = list(entra.allowed_audiences if entra else ()) or self._env_list("ENTRA_AUDIENCES")
        if audiences and not set(audiences) & set(claims.get("aud", [])):
            return "the token's audience is not allowed"
        clients = list(entra.allowed_client_ids if entra else ()) or self._env_list("ENTRA_CLIENT_IDS")
        if clients and not set(clients) & (set(claims.get("appid", [])) | set(claims.get("azp", []))):
            return "the calling application is not allowed"
        return None

    def _env(self, name: str) -> str | None:
        return self._environ.get(name, "").strip() or None

    def _env_list(self, suffix: str) -> list[str]:
        raw = self._env(f"AZURE_FUNCTIONS_AGENTS_{suffix}") or ""
        return [item.strip() for item in raw.split(",") if item.strip()]


def _decode_principal(header: str) -> dict[str, Any] | None:
    try:
        value = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _claims(principal: dict[str, Any]) -> dict[str, list[str]]:
    """Short claim name -> values, from App Service's ``[{typ, val}]`` list."""
    aliases = {
        "http://schemas.microsoft.com/identity/claims/tenantid": "tid",
        "http://schemas.microsoft.com/identity/claims/objectidentifier": "oid",
    }
    out: dict[str, list[str]] = {}
    for entry in principal.get("claims") or []:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("typ"), str)
            and isinstance(entry.get("val"), str)
        ):
            typ = entry["typ"]
            out.setdefault(aliases.get(typ, typ.rsplit("/", 1)[-1]), []).append(entry["val"])
    return out


class LoopbackHostGuard:
    """On a loopback address, refuse requests that web pages of other sites can send.

    A page the user visits can make the browser send requests to 127.0.0.1, either
    through a DNS name it controls (DNS rebinding: a foreign ``Host``) or directly
    (a foreign ``Origin``; the page cannot read the answer, but the agent would still
    run, tools included). Local tools (curl, SDKs) send neither.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1")
            origin = headers.get(b"origin", b"").decode("latin-1")
            refusal = None
            if host and not is_loopback(_hostname(host)):
                refusal = f"Host {host!r} is not served here: this server answers loopback names only"
            elif origin and not is_loopback(_hostname(origin.partition("://")[2] or origin)):
                refusal = f"requests from web pages of {origin!r} are not accepted by this local server"
            if refusal is not None:
                await json_error(403, refusal, "forbidden_origin")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _hostname(authority: str) -> str:
    """``127.0.0.1`` of ``127.0.0.1:7071``, ``[::1]`` of ``[::1]:7071``."""
    if authority.startswith("["):
        return authority.split("]", 1)[0] + "]"
    return authority.rsplit(":", 1)[0]
