"""Choosing the store from the environment, and where local data lives."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Message
from agentdown.sessions import (
    JsonlSessionStore,
    SqliteSessionStore,
    data_dir,
    store_from_env,
    store_settings,
)
from agentdown.sessions.azure_blob import AzureBlobSessionStore
from agentdown.sessions.config import AZURITE_ACCOUNT_KEY
from azurite_peer import Azurite


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir({"AGENTDOWN_DATA_DIR": str(tmp_path / "d")}) == tmp_path / "d"
    if sys.platform != "win32":
        assert data_dir({"XDG_DATA_HOME": "/xdg"}) == Path("/xdg/agentdown")
        assert data_dir({"XDG_DATA_HOME": "relative"}) == tmp_path / "home" / ".local" / "share" / "agentdown"
        assert data_dir({}) == tmp_path / "home" / ".local" / "share" / "agentdown"
    assert data_dir({"AGENTDOWN_DATA_DIR": "  ", "XDG_DATA_HOME": "/xdg"}) == Path("/xdg/agentdown")


def test_sqlite_is_the_default(tmp_path: Path) -> None:
    settings = store_settings({"AGENTDOWN_DATA_DIR": str(tmp_path)})
    assert (settings.kind, settings.path, settings.source) == ("sqlite", tmp_path / "sessions.db", "default")
    store = store_from_env({"AGENTDOWN_DATA_DIR": str(tmp_path)})
    assert isinstance(store, SqliteSessionStore)
    assert "sqlite" in settings.describe()


def test_agentdown_setting_wins(tmp_path: Path) -> None:
    env = {
        "AGENTDOWN_DATA_DIR": str(tmp_path),
        "AGENTDOWN_SESSION_STORE": "jsonl",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    }
    settings = store_settings(env)
    assert (settings.kind, settings.path) == ("jsonl", tmp_path / "sessions")
    assert isinstance(store_from_env(env), JsonlSessionStore)
    env["AGENTDOWN_SESSION_STORE"] = "sqlite"
    env["AGENTDOWN_SESSION_PATH"] = str(tmp_path / "x.db")
    assert store_settings(env).path == tmp_path / "x.db"


async def test_turn_cache_size_from_the_environment(tmp_path: Path) -> None:
    """``AGENTDOWN_TURN_CACHE_BYTES`` bounds each store's decoded turns; 0 turns the cache off."""
    for kind in ("sqlite", "jsonl"):
        env = {"AGENTDOWN_DATA_DIR": str(tmp_path / kind), "AGENTDOWN_SESSION_STORE": kind}
        default = store_from_env(env)
        assert isinstance(default, SqliteSessionStore | JsonlSessionStore)
        assert default.turn_cache.max_bytes == 32 * 1024 * 1024
        await default.aclose()
        store = store_from_env({**env, "AGENTDOWN_TURN_CACHE_BYTES": "0"})
        assert isinstance(store, SqliteSessionStore | JsonlSessionStore)
        try:
            await store.append("agent", "s", [Message.user("hi")], expected_version=None)
            for _ in range(2):
                assert [m.text for m in (await store.load("agent", "s")).messages] == ["hi"]
            assert len(store.turn_cache) == 0, "nothing kept with the cache off"
        finally:
            await store.aclose()
    blob = store_from_env(
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "AGENTDOWN_TURN_CACHE_BYTES": "1024"}
    )
    assert isinstance(blob, AzureBlobSessionStore) and blob.turn_cache.max_bytes == 1024
    await blob.aclose()
    for bad in ("-1", "lots", "1.5"):
        with pytest.raises(
            ConfigurationError,
            match=f"AGENTDOWN_TURN_CACHE_BYTES must be a whole number of bytes .* got '{bad}'",
        ):
            store_settings({"AGENTDOWN_TURN_CACHE_BYTES": bad})


def test_azure_web_jobs_storage_selects_blob() -> None:
    settings = store_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert settings.kind == "azure_blob" and settings.source == "AzureWebJobsStorage"
    assert settings.connection_string is not None
    assert "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1" in settings.connection_string
    assert AZURITE_ACCOUNT_KEY not in settings.describe()
    proxied = store_settings(
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://box"}
    )
    assert "BlobEndpoint=http://box:10000/devstoreaccount1" in str(proxied.connection_string)
    real = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"
    assert store_settings({"AzureWebJobsStorage": real}).connection_string == real


def test_identity_based_forms_use_an_account_url() -> None:
    settings = store_settings(
        {"AzureWebJobsStorage__accountName": "acct", "AzureWebJobsStorage__clientId": "cid"}
    )
    assert settings.account_url == "https://acct.blob.core.windows.net"
    assert settings.managed_identity_client_id == "cid" and settings.connection_string is None
    settings = store_settings({"AzureWebJobsStorage__blobServiceUri": "https://acct.blob.core.windows.net"})
    assert settings.account_url == "https://acct.blob.core.windows.net"
    settings = store_settings(
        {
            "AGENTDOWN_SESSION_CONNECTION": "https://other.blob.core.windows.net",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        }
    )
    assert (
        settings.account_url == "https://other.blob.core.windows.net"
        and settings.source == "AGENTDOWN_SESSION_CONNECTION"
    )


async def test_container_and_prefix_settings() -> None:
    env = {
        "AGENTDOWN_SESSION_STORE": "azure_blob",
        "AGENTDOWN_SESSION_CONNECTION": "UseDevelopmentStorage=true",
        "AGENTDOWN_SESSION_CONTAINER": "chats",
        "AGENTDOWN_SESSION_PREFIX": "/prod/",
    }
    settings = store_settings(env)
    assert (settings.container, settings.prefix) == ("chats", "/prod/")
    store = store_from_env(env)
    try:
        assert isinstance(store, AzureBlobSessionStore) and store.prefix == "prod"
        assert store.blob_name("agent", "s") == "prod/agent/s.jsonl"
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AGENTDOWN_SESSION_STORE": "redis"},
            "AGENTDOWN_SESSION_STORE: expected one of sqlite, jsonl, azure_blob",
        ),
        ({"AGENTDOWN_SESSION_STORE": "azure_blob"}, "needs a storage account"),
        ({"AzureWebJobsStorage": "garbage"}, "AzureWebJobsStorage: expected a storage connection string"),
        ({"AGENTDOWN_SESSION_CONNECTION": "x=y"}, "AGENTDOWN_SESSION_CONNECTION: expected"),
    ],
)
def test_bad_settings_say_what_was_expected(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        store_settings(env)


def test_invalid_container_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="invalid blob container name 'Bad_Name'"):
        AzureBlobSessionStore(connection_string="UseDevelopmentStorage=true", container="Bad_Name")
    with pytest.raises(ConfigurationError, match="exactly one of"):
        AzureBlobSessionStore()


async def test_store_from_env_reaches_azurite(azurite: Azurite) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string, "AGENTDOWN_SESSION_CONTAINER": "from-env"}
    store = store_from_env(env)
    try:
        await store.append("agent", "s", [Message.user("hi")], expected_version=None)
        assert (await store.load("agent", "s")).messages[0].text == "hi"
    finally:
        await store.aclose()
