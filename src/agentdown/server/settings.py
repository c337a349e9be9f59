"""Server settings: where to listen, the access keys, request limits.

Access keys follow Azure Functions: a caller presents a key as the ``x-functions-key``
header, ``Authorization: Bearer <key>`` or ``?code=<key>``. ``function`` endpoints
accept any function key or the master key, ``admin`` endpoints only the master key.

Keys come from, all of them together:

- ``AGENTDOWN_FUNCTION_KEYS``: comma-separated function keys;
- ``AGENTDOWN_MASTER_KEY``: the master (admin) key;
- a secrets file in the Azure Functions ``host.json`` shape
  (``{"masterKey": {"value": ...}, "functionKeys": [{"name": ..., "value": ...}]}``):
  ``--keys-file`` / ``AGENTDOWN_KEYS_FILE``, else ``$FUNCTIONS_SECRETS_PATH/host.json``
  when ``AzureWebJobsSecretStorageType=files`` (how a self-hosted Functions container
  is given its keys).

With no key at all, key checks are off (as under ``func start``); that is only allowed
on a loopback address unless ``insecure`` is set.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agentdown.exceptions import ConfigurationError
from agentdown.models.env import positive_int

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "Keys",
    "ServerSettings",
    "is_loopback",
    "load_keys",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7071
"""The Azure Functions host's local port, so URLs written for ``func start`` work unchanged."""
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class Keys:
    """The access keys a server accepts."""

    function: tuple[str, ...] = ()
    master: str | None = None

    @property
    def configured(self) -> bool:
        """Whether any key exists; without one, key checks are off."""
        return bool(self.function) or self.master is not None


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything :func:`agentdown.server.create_app` and ``agentdown serve`` need besides the app."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    keys: Keys = field(default_factory=Keys)
    insecure: bool = False
    """Listen on a non-loopback address even with no key configured."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest request body accepted (413 above it)."""
    history_limit: int = 200
    """Most messages ``GET /agents/{slug}/history`` returns (the newest ones)."""
    trust_client_principal: bool = False
    """Trust ``X-MS-CLIENT-PRINCIPAL`` for ``http_auth: entra`` agents: only behind a front end
    (App Service Authentication or a proxy) that validates Entra tokens and sets that header."""
    api_prefix: str = "api"
    """Agent routes also answer under ``/<prefix>/`` (the Azure Functions route prefix)."""

    def check_exposure(self) -> None:
        """Refuse a non-loopback address without keys unless ``insecure`` was asked for."""
        if not is_loopback(self.host) and not self.keys.configured and not self.insecure:
            raise ConfigurationError(
                f"refusing to listen on {self.host} with no access key configured: anyone who can reach "
                "it could run the agents. Set AGENTDOWN_FUNCTION_KEYS and/or AGENTDOWN_MASTER_KEY "
                "(or --keys-file), or pass --insecure to accept that"
            )

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "[::1]" if self.host == "::" else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        keys_file: Path | None = None,
        insecure: bool = False,
    ) -> ServerSettings:
        """Settings from arguments plus ``AGENTDOWN_*`` variables (see the module docstring)."""
        env = os.environ if environ is None else environ
        limit = positive_int(env, "AGENTDOWN_MAX_BODY_BYTES", unit="bytes") or DEFAULT_MAX_BODY_BYTES
        if not 0 <= port <= 65535:
            raise ConfigurationError(f"port: expected 0-65535, got {port}")
        return cls(
            host=host,
            port=port,
            keys=load_keys(env, keys_file),
            insecure=insecure,
            max_body_bytes=limit,
            trust_client_principal=env.get("AGENTDOWN_TRUST_CLIENT_PRINCIPAL", "").strip().lower() in _TRUE,
        )


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    # Asked for every request's Host (and Origin): the few names a server sees are cached,
    # and the bound keeps a stream of forged Host headers from growing it.
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_keys(environ: Mapping[str, str], keys_file: Path | None = None) -> Keys:
    """The keys from the environment and the secrets file (see the module docstring)."""
    function = [k.strip() for k in environ.get("AGENTDOWN_FUNCTION_KEYS", "").split(",") if k.strip()]
    master = environ.get("AGENTDOWN_MASTER_KEY", "").strip() or None
    path = keys_file
    if path is None and environ.get("AGENTDOWN_KEYS_FILE", "").strip():
        path = Path(environ["AGENTDOWN_KEYS_FILE"].strip())
    if path is None and environ.get("AzureWebJobsSecretStorageType", "").strip().lower() == "files":
        secrets = environ.get("FUNCTIONS_SECRETS_PATH", "").strip()
        if secrets:
            path = Path(secrets) / "host.json"
    if path is not None:
        file_function, file_master = _read_keys_file(path.expanduser())
        function += file_function
        if file_master is not None:
            if master is not None and master != file_master:
                raise ConfigurationError(
                    f"{path}: masterKey differs from AGENTDOWN_MASTER_KEY; set the master key in one place"
                )
            master = file_master
    for key in [*function, *([master] if master else [])]:
        if len(key) < 16:
            raise ConfigurationError(
                "access keys must be at least 16 characters long (a short key is easy to guess); "
                f"found one of {len(key)}"
            )
    return Keys(function=tuple(dict.fromkeys(function)), master=master)


def _read_keys_file(path: Path) -> tuple[list[str], str | None]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the keys file: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigurationError(f"{path}: the keys file is not valid JSON: {exc}") from exc
    expected = '{"masterKey": {"value": "..."}, "functionKeys": [{"name": "default", "value": "..."}]}'
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: expected a JSON object such as {expected}")
    master: str | None = None
    master_entry = raw.get("masterKey")
    if master_entry is not None:
        if not isinstance(master_entry, dict) or not isinstance(master_entry.get("value"), str):
            raise ConfigurationError(f'{path}: masterKey: expected {{"value": "..."}}')
        if master_entry.get("encrypted"):
            raise ConfigurationError(f"{path}: masterKey is encrypted; agentdown reads plain keys only")
        master = master_entry["value"].strip() or None
    function: list[str] = []
    entries = raw.get("functionKeys", [])
    if not isinstance(entries, list):
        raise ConfigurationError(f"{path}: functionKeys: expected a list such as {expected}")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            raise ConfigurationError(f'{path}: functionKeys[{index}]: expected {{"name": ..., "value": ...}}')
        if entry.get("encrypted"):
            raise ConfigurationError(
                f"{path}: functionKeys[{index}] is encrypted; agentdown reads plain keys only"
            )
        if entry["value"].strip():
            function.append(entry["value"].strip())
    if master is None and not function:
        raise ConfigurationError(f"{path}: the keys file holds no key; expected {expected}")
    return function, master
