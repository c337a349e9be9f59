"""Fixtures for the Agents-API store tests: one store of each kind; Azurite (with tables) once per run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore
from agentdown.runtime.agents_api.store import AgentsStore
from agentdown.runtime.queues.config import resolve_account
from azurite_peer import Azurite, running_azurite

STORE_KINDS = ["sqlite", "azure"]


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def table_store(server: Azurite) -> AgentsStore:
    """A Table store on its own table and container, so tests never see each other's records."""
    from agentdown.runtime.agents_api.table_store import TableAgentsStore

    account = resolve_account("AzureWebJobsStorage", {"AzureWebJobsStorage": server.connection_string})
    suffix = uuid.uuid4().hex[:16]
    return TableAgentsStore(account, table=f"agents{suffix}", container=f"agents-{suffix}")


@pytest.fixture
async def store(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[AgentsStore]:
    instance: AgentsStore
    if store_kind == "sqlite":
        instance = SqliteAgentsStore(tmp_path / "agents.db")
    else:
        instance = table_store(request.getfixturevalue("azurite"))
    try:
        yield instance
    finally:
        await instance.aclose()
