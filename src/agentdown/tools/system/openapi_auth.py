"""How an OpenAPI tool authenticates: anonymous, an API key, or a managed-identity token.

The three kinds of the Azure AI Agents ``OpenApiTool`` (``anonymous``, ``connection``
(a project connection holding a key; here the caller gives the key) and
``managed_identity`` with ``security_scheme.audience``).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "AnonymousAuth",
    "ApiKeyAuth",
    "AuthFailed",
    "ManagedIdentityAuth",
    "OpenApiAuth",
    "Placement",
    "place_api_key",
]


@dataclass(frozen=True, slots=True)
class AnonymousAuth:
    """No credentials."""


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    """An API key, sent where the spec's ``securitySchemes`` entry says (header, query, cookie).

    ``scheme`` names that entry; ``None`` picks the spec's only ``apiKey`` (or ``http``
    bearer) scheme.
    """

    key: str = field(repr=False)
    scheme: str | None = None


@dataclass(slots=True)
class ManagedIdentityAuth:
    """A bearer token for ``audience`` from an ``azure.identity`` credential.

    ``credential`` is anything with ``get_token(scope)`` (sync or async); ``None``
    creates ``azure.identity.aio.DefaultAzureCredential`` on first use (the package is
    optional: ``agentdown[azure]``). Tokens are reused until five minutes before expiry.
    """

    audience: str
    credential: Any = None
    _token: tuple[str, float] | None = field(default=None, repr=False)

    @property
    def scope(self) -> str:
        audience = self.audience.rstrip("/")
        return audience if audience.endswith("/.default") else f"{audience}/.default"

    async def token(self) -> str:
        """A current access token; raises :class:`AuthFailed` with a safe message.

        No lock: parallel first calls may each fetch a token (harmless), and a lock
        would tie the tool to the event loop it was first used on.
        """
        if self._token is not None and self._token[1] - 300 > time.time():
            return self._token[0]
        credential = self.credential
        if credential is None:
            try:
                from azure.identity.aio import DefaultAzureCredential
            except ImportError:
                raise AuthFailed(
                    "managed identity needs the azure-identity package (agentdown[azure])"
                ) from None
            credential = self.credential = DefaultAzureCredential()
        try:
            got = credential.get_token(self.scope)
            if inspect.isawaitable(got):
                got = await got
            value, expires = str(got.token), float(got.expires_on)
        except Exception as exc:
            raise AuthFailed(f"could not get a token for the API ({type(exc).__name__})") from None
        self._token = (value, expires)
        return value


OpenApiAuth: TypeAlias = AnonymousAuth | ApiKeyAuth | ManagedIdentityAuth


class AuthFailed(Exception):
    """No credentials could be produced; the message is safe to show the model."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a key goes: ``location`` header/query/cookie, under ``name``; ``prefix`` for bearer."""

    location: str
    name: str
    prefix: str = ""


def place_api_key(schemes: Mapping[str, Any], wanted: str | None) -> tuple[str, Placement]:
    """The security scheme an :class:`ApiKeyAuth` uses, and where its key goes."""
    usable = {
        name: s
        for name, s in schemes.items()
        if isinstance(s, Mapping)
        and (
            s.get("type") == "apiKey"
            or (s.get("type") == "http" and str(s.get("scheme", "")).lower() == "bearer")
        )
    }
    if wanted is None:
        if len(usable) != 1:
            listed = ", ".join(usable) or "none"
            raise ValueError(
                f"API-key auth needs one apiKey (or http bearer) security scheme in the spec, found: {listed}; "
                "name one with ApiKeyAuth(scheme=...)"
            )
        wanted = next(iter(usable))
    scheme = usable.get(wanted)
    if scheme is None:
        raise ValueError(f"the spec has no apiKey or http bearer security scheme {wanted!r}")
    if scheme.get("type") == "http":
        return wanted, Placement("header", "Authorization", "Bearer ")
    location, name = scheme.get("in"), scheme.get("name")
    if location not in ("header", "query", "cookie") or not isinstance(name, str) or not name:
        raise ValueError(f"security scheme {wanted!r} needs in: header|query|cookie and a name")
    return wanted, Placement(str(location), name)
