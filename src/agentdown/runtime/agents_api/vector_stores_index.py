"""The knowledge base behind the vector stores, placed where the Agents API's storage is.

* SQLite store (one machine): the indexes are ``<data dir>/knowledge/<store id>.sqlite``,
  shared by the processes of the machine through SQLite itself.
* Azure store (processes on many machines): each store's index is a snapshot blob
  ``knowledge/<store id>.sqlite`` of container ``agentdown-knowledge``
  (``AGENTDOWN_KNOWLEDGE_CONTAINER``) in the same account, written under a blob lease
  and read through ETag-checked local copies (``agentdown.knowledge.shared``). Each
  process keeps its copies in a temporary folder of its own (removed when it closes),
  so processes sharing a data dir never swap each other's copies.

Embeddings come from ``embedder_from_env`` (an OpenAI-compatible endpoint, else the
local model, else BM25 alone).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentdown.exceptions import ConfigurationError
from agentdown.knowledge import KnowledgeBase, embedder_from_env

__all__ = ["open_knowledge"]

_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


class _SharedKnowledge(KnowledgeBase):
    """A knowledge base synced through Azure Blob; it closes its container and local copies."""

    def __init__(self, root: Path, embedder: Any, sync: Any, closers: list[Any]) -> None:
        super().__init__(root, embedder, sync=sync)
        self._closers = closers

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            for closer in self._closers:
                await closer.close()
            shutil.rmtree(self.root, ignore_errors=True)


def open_knowledge(environ: Mapping[str, str] | None = None) -> KnowledgeBase:
    from agentdown.runtime.agents_api.config import agents_store_settings
    from agentdown.sessions.config import data_dir

    env = os.environ if environ is None else environ
    embedder = embedder_from_env(env)
    settings = agents_store_settings(env)
    if settings.kind != "azure":
        return KnowledgeBase(data_dir(env) / "knowledge", embedder)
    assert settings.account is not None
    account = settings.account
    container = (env.get("AGENTDOWN_KNOWLEDGE_CONTAINER") or "").strip() or "agentdown-knowledge"
    if not _CONTAINER.match(container):
        raise ConfigurationError(
            f"AGENTDOWN_KNOWLEDGE_CONTAINER={container!r}: a container name is 3-63 lowercase letters, "
            "digits and single hyphens"
        )
    from azure.storage.blob.aio import ContainerClient

    from agentdown.knowledge.shared import IndexSync

    closers: list[Any] = []
    if account.connection_string is not None:
        client = ContainerClient.from_connection_string(account.connection_string, container)
    else:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=account.client_id)
        closers.append(credential)
        client = ContainerClient(account.require_blob_url(), container, credential=credential)
    closers.insert(0, client)
    root = Path(tempfile.mkdtemp(prefix="agentdown-knowledge-"))
    return _SharedKnowledge(root, embedder, IndexSync(client), closers)
