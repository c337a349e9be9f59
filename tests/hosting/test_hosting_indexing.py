"""What the Functions host indexes: function names, bindings and routes (the package's own JSON)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _hosting_kit import SAMPLE, SAMPLES, Hosted

from agentdown.app.diagnostics import AppLoadError
from agentdown.exceptions import ConfigurationError
from agentdown.hosting import create_function_app


def _trigger(hosted: Hosted, name: str) -> dict[str, object]:
    return next(b for b in hosted.bindings(name) if b["direction"] == "IN")


async def test_every_agent_is_registered_under_the_other_runtimes_names(hosted: Hosted) -> None:
    builtin = [f"agent_main_builtin_{s}" for s in ("chat_page", "chat", "chatstream", "history", "mcp")]
    # agentdown's additions: its OpenAI-compatible API, the Agents API and its queue functions.
    ours = ["agentdown_openai_v1", "agentdown_agents_api", "agentdown_runs", "agentdown_ingest"]
    ours.append("agentdown_vector_store_sweep")
    triggers = ["bus", "events", "nightly", "orders", "summarize", "uploads"]
    assert sorted(hosted.functions) == sorted([*builtin, *triggers, *ours])
    assert _trigger(hosted, "agentdown_openai_v1")["route"] == "v1/{*path}"
    routes = {n: (_trigger(hosted, n).get("route"), _trigger(hosted, n).get("methods")) for n in builtin[:4]}
    assert routes == {
        "agent_main_builtin_chat_page": ("agents/main/", ["GET"]),
        "agent_main_builtin_chat": ("agents/main/chat", ["POST"]),
        "agent_main_builtin_chatstream": ("agents/main/chatstream", ["POST"]),
        "agent_main_builtin_history": ("agents/main/history", ["GET"]),
    }
    assert _trigger(hosted, "agent_main_builtin_chat_page")["authLevel"] == "ANONYMOUS"
    assert _trigger(hosted, "agent_main_builtin_chat")["authLevel"] == "FUNCTION"
    assert {b["type"] for b in hosted.bindings("agent_main_builtin_chat")} == {"httpTrigger", "http"}


async def test_mcp_tool_trigger_binding(hosted: Hosted) -> None:
    trigger = _trigger(hosted, "agent_main_builtin_mcp")
    assert trigger["type"] == "mcpToolTrigger"
    assert trigger["toolName"] == "main"
    assert trigger["description"] == "The main agent, with a tool."
    properties = json.loads(str(trigger["toolProperties"]))
    assert [(p["propertyName"], p["isRequired"]) for p in properties] == [
        ("prompt", True),
        ("session_id", False),
    ]


async def test_trigger_bindings(hosted: Hosted) -> None:
    assert _trigger(hosted, "summarize") == {
        "direction": "IN",
        "type": "httpTrigger",
        "name": "req",
        "methods": ["POST"],
        "authLevel": "ANONYMOUS",
        "route": "summarize",
    }
    nightly = _trigger(hosted, "nightly")
    assert (nightly["type"], nightly["schedule"]) == ("timerTrigger", "0 0 7 * * *")
    orders = _trigger(hosted, "orders")
    assert (orders["type"], orders["queueName"], orders["connection"]) == (
        "queueTrigger",
        "orders",
        "AzureWebJobsStorage",
    )
    uploads = _trigger(hosted, "uploads")
    assert (uploads["type"], uploads["path"]) == ("blobTrigger", "uploads/{name}")
    assert _trigger(hosted, "events")["type"] == "eventGridTrigger"
    bus = _trigger(hosted, "bus")
    assert (bus["type"], bus["queueName"], bus["connection"]) == (
        "serviceBusTrigger",
        "orders",
        "ServiceBusConnection",
    )
    assert all(
        _trigger(hosted, n)["name"] == "trigger_data"
        for n in ("nightly", "orders", "uploads", "events", "bus")
    )


def test_a_broken_app_fails_at_indexing(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "bad.agent.md").write_text("---\nname: Bad\n---\nno description\n")
    with pytest.raises(AppLoadError, match="description"):
        create_function_app(tmp_path, environ=env)


def test_a_missing_model_provider_fails_at_indexing(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError, match="no model provider configured"):
        create_function_app(SAMPLE, environ={"AGENTDOWN_MODELS_DIR": str(tmp_path)})


def test_a_reserved_trigger_route_fails_at_indexing(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "x.agent.md").write_text(
        "---\nname: X\ndescription: d\ntrigger: {type: http_trigger, args: {route: runtime/x}}\n---\nx\n"
    )
    with pytest.raises((AppLoadError, ConfigurationError), match="runtime"):
        create_function_app(tmp_path, environ=env)


@pytest.mark.parametrize(
    "setting", ["AZURE_FUNCTIONS_AGENTS_APP_ROOT", "AGENTDOWN_APP_ROOT", "AzureWebJobsScriptRoot"]
)
async def test_the_app_root_comes_from_the_settings(
    tmp_path: Path, env: dict[str, str], setting: str
) -> None:
    root = tmp_path / "app"
    shutil.copytree(SAMPLES / "basic-chat", root)
    app = Hosted(create_function_app(environ={**env, setting: str(root), "FOUNDRY_MODEL": "fake-model"}))
    try:
        assert "agent_main_builtin_chat" in app.functions
    finally:
        await app.aclose()


SAMPLE_NAMES = {
    "basic-chat": [f"agent_main_builtin_{s}" for s in ("chat_page", "chat", "chatstream", "history", "mcp")],
    # billing is an http_trigger agent; tech has no endpoint of its own (a delegate only).
    "multi-agent-delegation": [
        "billing",
        *(f"agent_main_builtin_{s}" for s in ("chat_page", "chat", "chatstream", "history", "mcp")),
    ],
    "queue-trigger-agent": ["queue_processor"],
    "secured-endpoints": [
        *(f"agent_apikey_builtin_{s}" for s in ("chat", "chatstream", "history", "mcp")),
        *(f"agent_entra_builtin_{s}" for s in ("chat", "chatstream", "history")),
    ],
    "storage-triggers": ["blob_watcher", "nightly_report", "queue_worker"],
}


@pytest.mark.parametrize("sample", sorted(SAMPLE_NAMES))
async def test_the_other_runtimes_samples_index_with_its_names(sample: str, env: dict[str, str]) -> None:
    settings = {
        **env,
        "FOUNDRY_MODEL": "fake-model",
        "ACA_SESSION_POOL_ENDPOINT": "https://x.dynamicsessions.io",
    }
    settings |= {"ENTRA_TENANT_ID": "tenant", "ENTRA_AUDIENCE": "api://agents"}
    app = Hosted(create_function_app(SAMPLES / sample, environ=settings))
    try:
        # Theirs exactly, plus agentdown's OpenAI-compatible API where an agent has a chat API,
        # and the Agents API with its queue functions (as `serve` serves it for every app).
        extra = ["agentdown_openai_v1"] if any("_builtin_chat" in n for n in SAMPLE_NAMES[sample]) else []
        extra += [
            "agentdown_agents_api",
            "agentdown_runs",
            "agentdown_ingest",
            "agentdown_vector_store_sweep",
        ]
        assert sorted(app.functions) == sorted([*SAMPLE_NAMES[sample], *extra])
    finally:
        await app.aclose()


def test_secured_endpoints_auth_levels(env: dict[str, str]) -> None:
    settings = {**env, "FOUNDRY_MODEL": "m", "ENTRA_TENANT_ID": "t", "ENTRA_AUDIENCE": "a"}
    app = Hosted(create_function_app(SAMPLES / "secured-endpoints", environ=settings))
    assert _trigger(app, "agent_apikey_builtin_chat")["authLevel"] == "FUNCTION"
    assert _trigger(app, "agent_entra_builtin_chat")["authLevel"] == "ANONYMOUS"


def test_the_sample_app_folder_is_the_fixture() -> None:
    assert (SAMPLE / "main.agent.md").is_file()
