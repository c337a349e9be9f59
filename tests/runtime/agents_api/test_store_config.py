"""Which Agents-API store the environment selects, and where the Table store finds its service."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdown.exceptions import ConfigurationError
from agentdown.runtime.agents_api.config import agents_store_settings, open_agents_store
from agentdown.runtime.agents_api.ids import new_record_id
from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore
from agentdown.runtime.agents_api.table_layout import partition_key, row_key, table_endpoint
from agentdown.runtime.queues.config import resolve_account
from agentdown.sessions.config import AZURITE_ACCOUNT_KEY
from azurite_peer import Azurite

KEYED = (
    "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5;EndpointSuffix=core.windows.net"
)


async def test_no_azure_connection_means_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path)}
    settings = agents_store_settings(env)
    assert settings.kind == "sqlite" and settings.path == tmp_path / "agents.db"
    store = open_agents_store(env)
    assert isinstance(store, SqliteAgentsStore) and store.path == str(tmp_path / "agents.db")
    await store.create("thread", "", "thread_1", {})
    await store.aclose()
    assert (tmp_path / "agents.db").exists()
    moved = agents_store_settings({**env, "AGENTDOWN_AGENTS_PATH": str(tmp_path / "x.db")})
    assert moved.path == tmp_path / "x.db"


def test_an_azure_connection_means_tables_unless_sqlite_is_asked_for(tmp_path: Path) -> None:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path), "AzureWebJobsStorage": KEYED}
    settings = agents_store_settings(env)
    assert settings.kind == "azure" and settings.source == "AzureWebJobsStorage"
    assert (settings.table, settings.container) == ("agentdownagents", "agentdown-agents")
    assert "c2VjcmV0a2V5" not in settings.describe()
    store = open_agents_store(env)
    assert type(store).__name__ == "TableAgentsStore"
    assert "c2VjcmV0a2V5" not in store.describe()
    explicit = agents_store_settings({**env, "AGENTDOWN_AGENTS_STORE": "sqlite"})
    assert explicit.kind == "sqlite" and explicit.path == tmp_path / "agents.db"
    # Explicit SQLite does not even read a broken connection setting.
    assert (
        agents_store_settings({"AGENTDOWN_AGENTS_STORE": "SQLite", "AzureWebJobsStorage": "junk"}).kind
        == "sqlite"
    )
    dev = agents_store_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert dev.kind == "azure"
    names = agents_store_settings(
        {**env, "AGENTDOWN_AGENTS_TABLE": "myRecords", "AGENTDOWN_AGENTS_CONTAINER": "my-bodies"}
    )
    assert (names.table, names.container) == ("myRecords", "my-bodies")


def test_agents_connection_names_another_setting(tmp_path: Path) -> None:
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path), "AGENTDOWN_AGENTS_CONNECTION": "RecordsStorage"}
    assert agents_store_settings({**env, "AzureWebJobsStorage": KEYED}).kind == "sqlite"
    chosen = agents_store_settings({**env, "RecordsStorage": KEYED})
    assert chosen.kind == "azure" and chosen.source == "RecordsStorage"
    identity = agents_store_settings(
        {
            **env,
            "RecordsStorage__accountName": "acct",
            "RecordsStorage__tableServiceUri": "https://t.example/",
        }
    )
    assert identity.kind == "azure" and identity.table_url == "https://t.example/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGENTDOWN_AGENTS_STORE": "cosmos"}, "AGENTDOWN_AGENTS_STORE"),
        ({"AGENTDOWN_AGENTS_STORE": "azure"}, "needs an Azure Storage connection"),
        ({"AzureWebJobsStorage": "not a connection string"}, "AzureWebJobsStorage"),
        ({"AzureWebJobsStorage": KEYED, "AGENTDOWN_AGENTS_TABLE": "bad-name"}, "AGENTDOWN_AGENTS_TABLE"),
        (
            {"AzureWebJobsStorage": KEYED, "AGENTDOWN_AGENTS_CONTAINER": "Bad_Name"},
            "AGENTDOWN_AGENTS_CONTAINER",
        ),
        (
            {"AzureWebJobsStorage__accountName": "a", "AzureWebJobsStorage__tableServiceUri": "t.example"},
            "tableServiceUri",
        ),
    ],
)
def test_bad_settings_are_configuration_errors(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=message):
        agents_store_settings({"AGENTDOWN_DATA_DIR": str(tmp_path), **env})


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        (KEYED, "https://acct.table.core.windows.net"),
        (
            "AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
            "https://acct.table.core.chinacloudapi.cn",
        ),
        (
            "AccountName=acct;AccountKey=a2V5;BlobEndpoint=https://acct.blob.core.windows.net/",
            "https://acct.table.core.windows.net",
        ),
        (
            f"AccountName=devstoreaccount1;AccountKey={AZURITE_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1",
            "http://127.0.0.1:10002/devstoreaccount1",
        ),
        (
            "AccountName=a;AccountKey=a2V5;BlobEndpoint=http://h:1/a;TableEndpoint=http://h:7/a",
            "http://h:7/a",
        ),
        ("UseDevelopmentStorage=true", "http://127.0.0.1:10002/devstoreaccount1"),
        (
            "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=1&sig=x",
            "https://acct.table.core.windows.net",
        ),
    ],
)
def test_the_table_endpoint_of_a_connection_string(connection: str, expected: str) -> None:
    url, credential = table_endpoint(resolve_account("S", {"S": connection}))
    assert url == expected
    assert credential is not None and credential[0] in ("key", "sas")


def test_the_table_endpoint_of_an_identity() -> None:
    url, credential = table_endpoint(resolve_account("S", {"S": "https://acct.queue.core.windows.net"}))
    assert (url, credential) == ("https://acct.table.core.windows.net", None)
    url, _ = table_endpoint(resolve_account("S", {"S__blobServiceUri": "https://acct.blob.core.windows.net"}))
    assert url == "https://acct.table.core.windows.net"


def test_row_keys_ascend_newest_first_and_keys_avoid_forbidden_characters() -> None:
    ids = [new_record_id("msg") for _ in range(50)]
    assert sorted(ids, key=row_key) == ids[::-1]
    for text in ("a/b#c?d", "back\\slash", "ctl\x00\x1f\x7f\x9f", "x" * 2000, "'"):
        for key in (partition_key(text, text), row_key(text)):
            assert not set(key) & set("/\\#?") and all(0x20 <= ord(c) < 0x7F or ord(c) > 0x9F for c in key)
            assert len(key.encode("utf-16-le")) <= 1024
    assert partition_key("k", "a|b") != partition_key("k|a", "b")
    assert row_key("!") != row_key("!21") and row_key("x" * 2000) != row_key("x" * 2001)


async def test_open_agents_store_reaches_azurite(azurite: Azurite) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string, "AGENTDOWN_AGENTS_TABLE": "fromenv"}
    store = open_agents_store(env)
    try:
        record = await store.create("assistant", "", "asst_env", {"name": "x"})
        assert await store.get("assistant", "", "asst_env") == record
        assert "fromenv" in store.describe() and AZURITE_ACCOUNT_KEY not in store.describe()
    finally:
        await store.aclose()
