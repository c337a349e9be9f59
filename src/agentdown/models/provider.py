"""Build a chat model from arguments and environment variables.

The variables of the Azure Functions agents runtime are accepted unchanged, so an app
configured for it runs here as is. Empty variables count as unset.

Provider, first found wins:

1. the ``provider=`` argument;
2. ``AGENTDOWN_PROVIDER``;
3. ``AZURE_FUNCTIONS_AGENTS_PROVIDER``;
4. inferred from which settings exist: ``AZURE_OPENAI_ENDPOINT`` -> ``azure_openai``,
   ``FOUNDRY_PROJECT_ENDPOINT`` -> ``foundry``, ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL``
   -> ``openai``. Settings for more than one of these with no provider named is an
   error (name one); none at all is an error too.

Provider names (case-insensitive, ``-`` and ``_`` alike): ``openai``; ``azure_openai``
(aliases ``azure``, ``azureopenai``); ``foundry`` (aliases ``azure_foundry``,
``microsoft_foundry``); ``ollama``; ``openai_compatible`` (alias ``compatible``); ``local``
(in-process model, an optional extra). More can be added with :func:`register_provider`.

Model (the Azure deployment name for Azure), first found wins:

1. the ``model=`` argument;
2. the provider's own variable: ``AZURE_OPENAI_DEPLOYMENT`` (azure_openai),
   ``FOUNDRY_MODEL`` (foundry);
3. ``AGENTDOWN_MODEL``;
4. ``AZURE_FUNCTIONS_AGENTS_MODEL``;
5. ``gpt-4o-mini`` for ``openai``; the other providers require one of the above.

Per provider:

- ``openai``: ``OPENAI_API_KEY`` (required unless ``OPENAI_BASE_URL`` points elsewhere),
  ``OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``), optional ``OPENAI_ORG_ID``
  and ``OPENAI_PROJECT_ID``.
- ``azure_openai``: ``AZURE_OPENAI_ENDPOINT`` (required); ``AZURE_OPENAI_API_KEY``, or
  else Entra ID through ``azure-identity``'s ``DefaultAzureCredential`` (managed
  identity, ``az login``, ...; it reads the process environment, where
  ``AZURE_CLIENT_ID`` picks a user-assigned identity); token scope
  ``https://cognitiveservices.azure.com/.default``;
  ``AZURE_OPENAI_API_VERSION`` selects the classic
  ``/openai/deployments/{deployment}`` URL, without it the ``/openai/v1`` API is used.
- ``foundry``: ``FOUNDRY_PROJECT_ENDPOINT`` (required); Entra ID as above; requests
  go to the resource's ``/openai/v1`` chat-completions API.
- ``ollama``: ``OLLAMA_HOST`` (default ``http://localhost:11434``); no key.
- ``openai_compatible``: ``OPENAI_BASE_URL`` (required), ``OPENAI_API_KEY`` optional.
"""

from __future__ import annotations

import importlib
import logging
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agentdown.exceptions import ConfigurationError
from agentdown.models.base import ChatModel
from agentdown.models.openai_compat import OPENAI_BASE_URL, OpenAIChatModel, TokenProvider

__all__ = [
    "AZURE_SCOPE",
    "ProviderContext",
    "ProviderFactory",
    "model_from_env",
    "normalize_provider",
    "register_provider",
]

logger = logging.getLogger("agentdown.models")

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
_INFERENCE = (
    ("AZURE_OPENAI_ENDPOINT", "azure_openai"),
    ("FOUNDRY_PROJECT_ENDPOINT", "foundry"),
    ("OPENAI_API_KEY", "openai"),
    ("OPENAI_BASE_URL", "openai"),
)


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider factory gets: the environment and the model asked for."""

    provider: str
    """The canonical provider name."""
    environ: Mapping[str, str]
    explicit_model: str | None
    """The ``model=`` argument, which beats every variable."""

    def get(self, name: str) -> str | None:
        """A variable's value, ``None`` when unset or blank."""
        value = self.environ.get(name)
        if value is None:
            return None
        return value.strip() or None

    def model(self, specific_var: str | None = None, default: str | None = None) -> str:
        """The model by the documented precedence; a :class:`ConfigurationError` if none."""
        for candidate in (
            self.explicit_model,
            self.get(specific_var) if specific_var else None,
            self.get("AGENTDOWN_MODEL"),
            self.get("AZURE_FUNCTIONS_AGENTS_MODEL"),
            default,
        ):
            if candidate:
                return candidate
        names = ([specific_var] if specific_var else []) + ["AGENTDOWN_MODEL", "AZURE_FUNCTIONS_AGENTS_MODEL"]
        what = "deployment name" if self.provider == "azure_openai" else "model name"
        raise ConfigurationError(
            f"provider {self.provider!r} needs a {what}: set {' or '.join(names)} (or pass model=...)"
        )

    def require(self, name: str, what: str) -> str:
        value = self.get(name)
        if value is None:
            raise ConfigurationError(f"provider {self.provider!r} needs {name}: {what}")
        return value


ProviderFactory = Callable[[ProviderContext], ChatModel]
"""Builds a model for one provider; raises :class:`ConfigurationError` on bad settings."""

_registry: dict[str, ProviderFactory] = {}
_aliases: dict[str, str] = {}


def normalize_provider(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return _aliases.get(key, key)


def register_provider(name: str, factory: ProviderFactory, *, aliases: tuple[str, ...] = ()) -> None:
    """Make ``name`` (and ``aliases``) buildable by :func:`model_from_env`; replaces an existing one."""
    canonical = name.strip().lower().replace("-", "_")
    _registry[canonical] = factory
    for alias in aliases:
        _aliases[alias.strip().lower().replace("-", "_")] = canonical


def model_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
) -> ChatModel:
    """The chat model the settings describe (see the module docstring for precedence).

    Raises :class:`ConfigurationError` naming the variables at fault; nothing is
    contacted until the first request.
    """
    env = os.environ if environ is None else environ
    name, source = _pick_provider(env, provider)
    canonical = normalize_provider(name)
    factory = _registry.get(canonical)
    if factory is None:
        known = ", ".join(sorted(_registry))
        raise ConfigurationError(
            f"{source} names an unknown model provider {name!r}; known providers: {known}"
        )
    return factory(ProviderContext(provider=canonical, environ=env, explicit_model=model or None))


def _pick_provider(env: Mapping[str, str], provider: str | None) -> tuple[str, str]:
    if provider and provider.strip():
        return provider, "the provider argument"
    for var in ("AGENTDOWN_PROVIDER", "AZURE_FUNCTIONS_AGENTS_PROVIDER"):
        value = (env.get(var) or "").strip()
        if value:
            return value, var
    found: dict[str, list[str]] = {}
    for var, name in _INFERENCE:
        if (env.get(var) or "").strip():
            found.setdefault(name, []).append(var)
    if len(found) > 1:
        clues = "; ".join(f"{' and '.join(v)} suggest {k!r}" for k, v in found.items())
        raise ConfigurationError(
            f"cannot tell which model provider to use: {clues}. "
            "Set AGENTDOWN_PROVIDER (or AZURE_FUNCTIONS_AGENTS_PROVIDER) to one of them"
        )
    if not found:
        local = _pulled_local_model(env)
        if local is not None:
            logger.warning(
                "no model provider configured: using the local model %s (%s); "
                "set AGENTDOWN_PROVIDER to choose another",
                *local,
            )
            return "local", "the default (a pulled local model)"
        raise ConfigurationError(
            "no model provider configured: set OPENAI_API_KEY (OpenAI), AZURE_OPENAI_ENDPOINT "
            "(+ AZURE_OPENAI_DEPLOYMENT, and AZURE_OPENAI_API_KEY or Entra ID) for Azure OpenAI, "
            "FOUNDRY_PROJECT_ENDPOINT (+ FOUNDRY_MODEL) for Microsoft Foundry, or OPENAI_BASE_URL "
            "for any OpenAI-compatible server; or name one with AGENTDOWN_PROVIDER; or run "
            "`agentdown models pull` for a local model (needs pip install 'agentdown[local]')"
        )
    (name,) = found
    return name, "the environment"


def _entra_token_provider(ctx: ProviderContext, hint: str) -> tuple[TokenProvider, object]:
    """An async bearer-token provider from ``DefaultAzureCredential`` and the credential to close."""
    try:
        # Imported by name so that type checking does not depend on the optional extra.
        identity = importlib.import_module("azure.identity.aio")
    except ImportError as exc:
        raise ConfigurationError(
            f"provider {ctx.provider!r} without an API key authenticates with Entra ID, which needs "
            f"azure-identity: pip install 'agentdown[azure]', or set {hint}"
        ) from exc
    credential = identity.DefaultAzureCredential()
    provider: TokenProvider = identity.get_bearer_token_provider(credential, AZURE_SCOPE)
    return provider, credential


def _openai(ctx: ProviderContext) -> ChatModel:
    base_url = ctx.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
    api_key = ctx.get("OPENAI_API_KEY")
    if api_key is None and base_url.rstrip("/") == OPENAI_BASE_URL:
        raise ConfigurationError(
            "provider 'openai' needs OPENAI_API_KEY (or OPENAI_BASE_URL for another OpenAI-compatible server)"
        )
    headers: dict[str, str] = {}
    if org := ctx.get("OPENAI_ORG_ID"):
        headers["OpenAI-Organization"] = org
    if project := ctx.get("OPENAI_PROJECT_ID"):
        headers["OpenAI-Project"] = project
    return OpenAIChatModel(
        ctx.model(default=DEFAULT_OPENAI_MODEL), base_url=base_url, api_key=api_key, headers=headers
    )


def _azure_openai(ctx: ProviderContext) -> ChatModel:
    endpoint = ctx.require(
        "AZURE_OPENAI_ENDPOINT", "the resource URL, e.g. https://<resource>.openai.azure.com"
    )
    _check_url("AZURE_OPENAI_ENDPOINT", endpoint)
    deployment = ctx.model("AZURE_OPENAI_DEPLOYMENT")
    api_key = ctx.get("AZURE_OPENAI_API_KEY")
    api_version = ctx.get("AZURE_OPENAI_API_VERSION")
    if api_key is not None:
        return OpenAIChatModel.azure(endpoint, deployment, api_version=api_version, api_key=api_key)
    token_provider, credential = _entra_token_provider(ctx, "AZURE_OPENAI_API_KEY")
    model = OpenAIChatModel.azure(
        endpoint, deployment, api_version=api_version, token_provider=token_provider
    )
    model.own(credential)
    return model


def _foundry(ctx: ProviderContext) -> ChatModel:
    endpoint = ctx.require(
        "FOUNDRY_PROJECT_ENDPOINT", "e.g. https://<resource>.services.ai.azure.com/api/projects/<project>"
    )
    parts = _check_url("FOUNDRY_PROJECT_ENDPOINT", endpoint)
    model_name = ctx.model("FOUNDRY_MODEL")
    token_provider, credential = _entra_token_provider(ctx, "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY")
    model = OpenAIChatModel(
        model_name,
        base_url=f"{parts.scheme}://{parts.netloc}/openai/v1",
        token_provider=token_provider,
    )
    model.own(credential)
    return model


def _ollama(ctx: ProviderContext) -> ChatModel:
    host = ctx.get("OLLAMA_HOST") or "http://localhost:11434"
    if "://" not in host:
        host = f"http://{host}"
    host = host.rstrip("/")
    base_url = host if host.endswith("/v1") else f"{host}/v1"
    return OpenAIChatModel(ctx.model(), base_url=base_url)


def _openai_compatible(ctx: ProviderContext) -> ChatModel:
    base_url = ctx.require(
        "OPENAI_BASE_URL", "the server's OpenAI-compatible URL, e.g. http://localhost:8000/v1"
    )
    _check_url("OPENAI_BASE_URL", base_url)
    return OpenAIChatModel(ctx.model(), base_url=base_url, api_key=ctx.get("OPENAI_API_KEY"))


def _local(ctx: ProviderContext) -> ChatModel:
    # Imported on use: the package is light, but only apps that want a local model pay for it.
    from agentdown.models.local import local_provider

    return local_provider(ctx)


def _pulled_local_model(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The name and path of the local model to default to, if one is pulled and runnable."""
    from agentdown.models.local import default_local_model

    found = default_local_model(env)
    return (found.name, str(found.path)) if found is not None else None


def _check_url(var: str, value: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{var} must be an http(s) URL, got {value!r}")
    return parts


register_provider("openai", _openai)
register_provider("azure_openai", _azure_openai, aliases=("azure", "azureopenai"))
register_provider("foundry", _foundry, aliases=("azure_foundry", "microsoft_foundry"))
register_provider("ollama", _ollama)
register_provider("openai_compatible", _openai_compatible, aliases=("compatible",))
register_provider("local", _local)
