"""The settings of ``web_request`` (the Azure Functions agents runtime's keys) and host matching.

``system_tools.web_request`` in the other runtime is ``true`` / absent (defaults),
``false`` (off) or an object with ``allowed_hosts``, ``require_https``,
``timeout_seconds``, ``max_response_bytes`` and ``max_request_bytes``; values past
its hard ceilings are clamped. ``max_redirects`` is ours (their design's v2 key).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

__all__ = ["WebSettings", "host_allowed", "parse_web_settings"]

logger = logging.getLogger("agentdown.tools.system")

# The other runtime's defaults and ceilings (operators cannot raise the ceilings).
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 120.0
MIN_TIMEOUT_SECONDS = 0.1
DEFAULT_MAX_RESPONSE_BYTES = 5_000_000
MAX_RESPONSE_BYTES = 10_000_000
DEFAULT_MAX_REQUEST_BYTES = 1_000_000
MAX_REQUEST_BYTES = 10_000_000
DEFAULT_MAX_REDIRECTS = 5
MAX_REDIRECTS = 10

KEYS = (
    "allowed_hosts",
    "require_https",
    "timeout_seconds",
    "max_response_bytes",
    "max_request_bytes",
    "max_redirects",
)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Resolved settings of one tool (see the module docstring for the keys)."""

    allowed_hosts: tuple[str, ...] | None = None
    """``None``: any public host; else only these (``*.example.com``: its subdomains)."""
    require_https: bool = True
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    """For the whole call: every redirect hop and reading the body included."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    """Redirects followed (each hop checked again); ``0`` returns a 3xx as it is."""


def _normalize_host(raw: object, what: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{what}: allowed_hosts entries must be non-empty strings, got {raw!r}")
    host = raw.strip().rstrip(".").lower()
    body = host[2:] if host.startswith("*.") else host
    try:
        # Compared with the URL's IDNA form (what is resolved): bücher.example -> xn--bcher-kva.example
        encoded = URL.build(scheme="http", host=body).raw_host if body else None
    except ValueError:
        encoded = None
    if not encoded or any(c in body for c in "*/@: \t"):
        raise ValueError(
            f"{what}: allowed_hosts entry {raw!r} must be a host name ('api.example.com') "
            "or a wildcard for its subdomains ('*.example.com')"
        )
    return f"*.{encoded}" if host.startswith("*.") else encoded


def host_allowed(host: str, allowed_hosts: tuple[str, ...] | None) -> bool:
    """Exact match, or ``*.example.com`` matching subdomains at any depth (not the apex)."""
    if allowed_hosts is None:
        return True
    name = host.rstrip(".").lower()
    for entry in allowed_hosts:
        if entry.startswith("*."):
            if name.endswith(entry[1:]) and len(name) > len(entry) - 1:
                return True
        elif name == entry:
            return True
    return False


def _number(
    settings: Mapping[str, Any], key: str, default: float, low: float, high: float, what: str
) -> float:
    value = settings.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{what}: {key} must be a positive number, got {value!r}")
    if not low <= value <= high:
        clamped = min(max(float(value), low), high)
        logger.warning("%s: %s=%r is outside %s..%s; using %s", what, key, value, low, high, clamped)
        return clamped
    return float(value)


def parse_web_settings(settings: Mapping[str, Any] | bool | None, what: str = "web_request") -> WebSettings:
    """Check and resolve settings; ``True``/``None``: the defaults. Raises ``ValueError``."""
    if settings is None or settings is True:
        return WebSettings()
    if settings is False:
        raise ValueError(f"{what} is disabled (false); do not build the tool")
    if not isinstance(settings, Mapping):
        raise ValueError(f"{what} settings must be true, false or a mapping, got {type(settings).__name__}")
    unknown = sorted(str(k) for k in settings if k not in KEYS)
    if unknown:
        raise ValueError(f"{what}: unknown setting(s) {', '.join(unknown)}; expected {', '.join(KEYS)}")
    hosts = settings.get("allowed_hosts")
    if hosts is not None and (isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple))):
        raise ValueError(f"{what}: allowed_hosts must be a list of host names, got {hosts!r}")
    require_https = settings.get("require_https", True)
    if not isinstance(require_https, bool):
        raise ValueError(f"{what}: require_https must be true or false, got {require_https!r}")
    redirects = settings.get("max_redirects", DEFAULT_MAX_REDIRECTS)
    if isinstance(redirects, bool) or not isinstance(redirects, int) or redirects < 0:
        raise ValueError(f"{what}: max_redirects must be a non-negative integer, got {redirects!r}")
    return WebSettings(
        allowed_hosts=None if hosts is None else tuple(_normalize_host(h, what) for h in hosts),
        require_https=require_https,
        timeout_seconds=_number(
            settings,
            "timeout_seconds",
            DEFAULT_TIMEOUT_SECONDS,
            MIN_TIMEOUT_SECONDS,
            MAX_TIMEOUT_SECONDS,
            what,
        ),
        max_response_bytes=int(
            _number(settings, "max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES, 1, MAX_RESPONSE_BYTES, what)
        ),
        max_request_bytes=int(
            _number(settings, "max_request_bytes", DEFAULT_MAX_REQUEST_BYTES, 1, MAX_REQUEST_BYTES, what)
        ),
        max_redirects=min(redirects, MAX_REDIRECTS),
    )
