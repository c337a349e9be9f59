"""Provider ``local``: a GGUF model run in-process by llama.cpp (extra ``agentdown[local]``).

Importing this package is cheap and never imports a llama.cpp binding; the model
loads at its first request. Settings (empty counts as unset):

- model, first found: ``model=``, ``AGENTDOWN_LOCAL_MODEL``, ``AGENTDOWN_MODEL``,
  ``AZURE_FUNCTIONS_AGENTS_MODEL``; a pulled model's name (``agentdown models list``)
  or the path of any ``.gguf`` file; none: the best pulled model;
- ``AGENTDOWN_MODELS_DIR``: where ``agentdown models pull`` puts models;
- ``AGENTDOWN_LOCAL_N_CTX``: context window in tokens (default 8192, capped at the
  model's trained length); ``AGENTDOWN_LOCAL_THREADS``: CPU threads (default: half);
- ``AGENTDOWN_LOCAL_BACKEND``: ``xllamacpp`` or ``llama-cpp-python``, the binding that
  runs the model (default: xllamacpp if installed, else llama-cpp-python).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agentdown.exceptions import ConfigurationError
from agentdown.models.base import ChatModel
from agentdown.models.env import positive_int
from agentdown.models.local.catalog import CATALOG, DEFAULT_MODEL, CatalogModel
from agentdown.models.local.engine import llama_cpp_available
from agentdown.models.local.llama import LocalChatModel, LocalStats
from agentdown.models.local.weights import (
    InstalledModel,
    installed_models,
    models_dir,
    models_dir_in,
    pull,
    resolve_model_path,
)
from agentdown.models.provider import ProviderContext, register_provider

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "CatalogModel",
    "InstalledModel",
    "LocalChatModel",
    "LocalStats",
    "default_local_model",
    "installed_models",
    "llama_cpp_available",
    "local_provider",
    "models_dir",
    "pull",
]

_MODEL_VARS = ("AGENTDOWN_LOCAL_MODEL", "AGENTDOWN_MODEL", "AZURE_FUNCTIONS_AGENTS_MODEL")


def local_provider(ctx: ProviderContext) -> ChatModel:
    """The provider factory: a :class:`LocalChatModel` from the settings above."""
    if not llama_cpp_available():
        raise ConfigurationError(
            "provider 'local' needs a llama.cpp binding: pip install 'agentdown[local]' "
            "(see docs/local-model.md), or choose another provider with AGENTDOWN_PROVIDER"
        )
    spec = ctx.explicit_model or next((v for var in _MODEL_VARS if (v := ctx.get(var))), None)
    path, name = resolve_model_path(spec, models_dir(ctx.environ))
    return LocalChatModel(
        path,
        name=name,
        n_ctx=positive_int(ctx.environ, "AGENTDOWN_LOCAL_N_CTX"),
        n_threads=positive_int(ctx.environ, "AGENTDOWN_LOCAL_THREADS"),
        backend=ctx.get("AGENTDOWN_LOCAL_BACKEND"),
    )


def default_local_model(environ: Mapping[str, str] | None = None) -> InstalledModel | None:
    """The pulled model to use when no provider is configured, if a llama.cpp binding is there too."""
    if not llama_cpp_available():
        return None
    directory = models_dir_in(os.environ if environ is None else environ)
    installed = installed_models(directory) if directory is not None else []
    return installed[0] if installed else None


register_provider("local", local_provider, aliases=("llama_cpp", "llamacpp", "gguf"))
