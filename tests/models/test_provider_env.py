"""model_from_env: every variable, the precedence, and the errors."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from agentdown.exceptions import ConfigurationError
from agentdown.messages import Message
from agentdown.models import ChatModel, OpenAIChatModel, model_from_env, register_provider
from agentdown.models.provider import AZURE_SCOPE, ProviderContext
from agentdown.testing import FakeModelServer, ScriptedModel


def build(env: dict[str, str], **kwargs: Any) -> OpenAIChatModel:
    model = model_from_env(env, **kwargs)
    assert isinstance(model, OpenAIChatModel)
    return model


def header(model: OpenAIChatModel, name: str) -> str | None:
    return model._headers.get(name)


def test_openai_from_key() -> None:
    model = build({"OPENAI_API_KEY": "sk-1"})
    assert model.model_name == "gpt-4o-mini"
    assert model.url_for() == "https://api.openai.com/v1/chat/completions"
    assert header(model, "Authorization") == "Bearer sk-1"
    assert isinstance(model, ChatModel)


def test_openai_base_url_org_and_project() -> None:
    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": "http://localhost:8000/v1/",
        "OPENAI_ORG_ID": "org-1",
        "OPENAI_PROJECT_ID": "proj-1",
        "AZURE_FUNCTIONS_AGENTS_MODEL": "llama",
    }
    model = build(env)
    assert model.url_for() == "http://localhost:8000/v1/chat/completions"
    assert model.model_name == "llama"
    assert header(model, "OpenAI-Organization") == "org-1"
    assert header(model, "OpenAI-Project") == "proj-1"


def test_base_url_alone_means_openai_without_key() -> None:
    model = build({"OPENAI_BASE_URL": "http://127.0.0.1:1234/v1", "AGENTDOWN_MODEL": "qwen"})
    assert model.model_name == "qwen"
    assert header(model, "Authorization") is None


def test_model_precedence_generic() -> None:
    env = {"OPENAI_API_KEY": "k", "AGENTDOWN_MODEL": "ours", "AZURE_FUNCTIONS_AGENTS_MODEL": "theirs"}
    assert build(env).model_name == "ours"
    assert build(env, model="explicit").model_name == "explicit"
    del env["AGENTDOWN_MODEL"]
    assert build(env).model_name == "theirs"


def test_provider_precedence() -> None:
    env = {
        "OPENAI_API_KEY": "k",
        "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "dep",
        "AZURE_OPENAI_API_KEY": "az",
        "AZURE_FUNCTIONS_AGENTS_PROVIDER": "azure_openai",
    }
    assert build(env).url_for() == "https://res.openai.azure.com/openai/v1/chat/completions"
    env["AGENTDOWN_PROVIDER"] = "openai"  # ours wins over the Azure Functions variable
    assert build(env).url_for() == "https://api.openai.com/v1/chat/completions"
    assert build(env, provider="azure").url_for().startswith("https://res.openai.azure.com/")


def test_azure_with_key_and_api_version() -> None:
    env = {
        "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/",
        "AZURE_OPENAI_DEPLOYMENT": "gpt4o-prod",
        "AZURE_OPENAI_API_KEY": "az-key",
        "AZURE_OPENAI_API_VERSION": "2024-10-21",
        "AGENTDOWN_MODEL": "ignored-for-azure",
    }
    model = build(env)
    assert model.model_name == "gpt4o-prod"  # the provider's own variable beats the generic ones
    assert model.url_for() == (
        "https://res.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    )
    assert header(model, "api-key") == "az-key"
    assert header(model, "Authorization") is None
    assert build(env, model="explicit-dep").model_name == "explicit-dep"


def test_azure_deployment_falls_back_to_generic_model() -> None:
    env = {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"}
    assert build({**env, "AZURE_FUNCTIONS_AGENTS_MODEL": "dep-x"}).model_name == "dep-x"
    with pytest.raises(ConfigurationError) as info:
        build(env)
    message = str(info.value)
    assert "deployment" in message
    assert "AZURE_OPENAI_DEPLOYMENT" in message
    assert "AGENTDOWN_MODEL" in message


def test_blank_values_count_as_unset() -> None:
    env = {"OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "  ", "AGENTDOWN_PROVIDER": ""}
    assert build(env).url_for().startswith("https://api.openai.com")


def test_ambiguous_openai_and_azure() -> None:
    env = {"OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com"}
    with pytest.raises(ConfigurationError) as info:
        model_from_env(env)
    message = str(info.value)
    assert "cannot tell which model provider" in message
    assert "AZURE_OPENAI_ENDPOINT" in message
    assert "OPENAI_API_KEY" in message
    assert "AGENTDOWN_PROVIDER" in message


def test_nothing_configured(tmp_path: Path) -> None:
    # An empty models directory: a model pulled on this machine would otherwise be the default.
    with pytest.raises(ConfigurationError) as info:
        model_from_env({"AGENTDOWN_MODELS_DIR": str(tmp_path)})
    message = str(info.value)
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "FOUNDRY_PROJECT_ENDPOINT", "AGENTDOWN_PROVIDER"):
        assert name in message
    assert "agentdown models pull" in message


def test_unknown_provider_names_its_source() -> None:
    with pytest.raises(
        ConfigurationError, match=r"AZURE_FUNCTIONS_AGENTS_PROVIDER .*'anthropic'.*azure_openai"
    ):
        model_from_env({"AZURE_FUNCTIONS_AGENTS_PROVIDER": "anthropic"})
    with pytest.raises(ConfigurationError, match="the provider argument"):
        model_from_env({}, provider="nope")


def test_named_provider_with_missing_settings() -> None:
    with pytest.raises(ConfigurationError, match="'openai' needs OPENAI_API_KEY"):
        model_from_env({"AGENTDOWN_PROVIDER": "openai"})
    with pytest.raises(ConfigurationError, match="'azure_openai' needs AZURE_OPENAI_ENDPOINT"):
        model_from_env({"AGENTDOWN_PROVIDER": "Azure-OpenAI"})
    with pytest.raises(ConfigurationError, match="'openai_compatible' needs OPENAI_BASE_URL"):
        model_from_env({"AGENTDOWN_PROVIDER": "openai-compatible", "AGENTDOWN_MODEL": "m"})
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT must be an http"):
        model_from_env({"AZURE_OPENAI_ENDPOINT": "res.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"})


def test_ollama_defaults_and_host() -> None:
    with pytest.raises(ConfigurationError, match="'ollama' needs a model name"):
        model_from_env({"AGENTDOWN_PROVIDER": "ollama"})
    model = build({"AGENTDOWN_PROVIDER": "ollama", "AGENTDOWN_MODEL": "llama3.2"})
    assert model.url_for() == "http://localhost:11434/v1/chat/completions"
    assert header(model, "Authorization") is None
    model = build({"OLLAMA_HOST": "10.0.0.5:11434"}, provider="ollama", model="qwen3")
    assert model.url_for() == "http://10.0.0.5:11434/v1/chat/completions"


def test_openai_compatible() -> None:
    env = {
        "AGENTDOWN_PROVIDER": "openai_compatible",
        "OPENAI_BASE_URL": "http://vllm:8000/v1",
        "AGENTDOWN_MODEL": "m",
    }
    model = build(env)
    assert model.url_for() == "http://vllm:8000/v1/chat/completions"
    assert header(model, "Authorization") is None
    assert header(build({**env, "OPENAI_API_KEY": "tok"}), "Authorization") == "Bearer tok"


def test_local_provider_without_a_model_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"llama-cpp-python|agentdown models pull"):
        model_from_env({"AGENTDOWN_PROVIDER": "local", "AGENTDOWN_MODELS_DIR": str(tmp_path)})


def test_register_provider_adds_names_and_aliases() -> None:
    seen: list[ProviderContext] = []

    def factory(ctx: ProviderContext) -> ChatModel:
        seen.append(ctx)
        return ScriptedModel([], model_name=ctx.model(default="default-m"))

    register_provider("test_scripted_provider", factory, aliases=("tsp",))
    model = model_from_env({"AGENTDOWN_PROVIDER": "TSP", "AGENTDOWN_MODEL": "from-env"})
    assert model.model_name == "from-env"
    assert seen[0].provider == "test_scripted_provider"


# -- Entra ID through azure-identity (faked: no cloud identity here) ----------------------------


@pytest.fixture
def fake_identity(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"scopes": [], "closed": 0, "tokens": 0}

    class FakeCredential:
        async def close(self) -> None:
            state["closed"] += 1

    def get_bearer_token_provider(credential: object, scope: str) -> Any:
        state["scopes"].append(scope)

        async def provider() -> str:
            state["tokens"] += 1
            return f"entra-{state['tokens']}"

        return provider

    aio = types.ModuleType("azure.identity.aio")
    aio.DefaultAzureCredential = FakeCredential  # type: ignore[attr-defined]
    aio.get_bearer_token_provider = get_bearer_token_provider  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure", types.ModuleType("azure"))
    monkeypatch.setitem(sys.modules, "azure.identity", types.ModuleType("azure.identity"))
    monkeypatch.setitem(sys.modules, "azure.identity.aio", aio)
    return state


async def test_azure_without_key_uses_entra_token(fake_identity: dict[str, Any]) -> None:
    async with FakeModelServer() as srv:
        env = {
            "AZURE_OPENAI_ENDPOINT": srv.url,
            "AZURE_OPENAI_DEPLOYMENT": "dep",
            "AZURE_OPENAI_API_VERSION": "2024-10-21",
        }
        model = build(env)
        await model.complete([Message.user("a")])
        await model.complete([Message.user("b")])
        await model.aclose()
    assert fake_identity["scopes"] == [AZURE_SCOPE]
    assert [r.headers["authorization"] for r in srv.requests] == ["Bearer entra-1", "Bearer entra-2"]
    assert srv.requests[0].path == "/openai/deployments/dep/chat/completions"
    assert fake_identity["closed"] == 1  # the model owns and closes the credential


async def test_foundry_uses_resource_v1_api(fake_identity: dict[str, Any]) -> None:
    async with FakeModelServer() as srv:
        env = {"FOUNDRY_PROJECT_ENDPOINT": f"{srv.url}/api/projects/proj", "FOUNDRY_MODEL": "gpt-4.1"}
        model = build(env)
        assert model.model_name == "gpt-4.1"
        await model.complete([Message.user("a")])
        await model.aclose()
    assert srv.requests[0].path == "/openai/v1/chat/completions"
    assert srv.requests[0].body["model"] == "gpt-4.1"
    assert srv.requests[0].headers["authorization"] == "Bearer entra-1"


def test_entra_without_azure_identity_explains_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)  # makes the import fail
    env = {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com", "AZURE_OPENAI_DEPLOYMENT": "d"}
    with pytest.raises(ConfigurationError) as info:
        model_from_env(env)
    message = str(info.value)
    assert "pip install 'agentdown[azure]'" in message
    assert "AZURE_OPENAI_API_KEY" in message
    with pytest.raises(ConfigurationError, match="FOUNDRY_MODEL"):
        model_from_env({"FOUNDRY_PROJECT_ENDPOINT": "https://r.services.ai.azure.com/api/projects/p"})


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AZURE_OPENAI_ENDPOINT",
        "FOUNDRY_PROJECT_ENDPOINT",
        "OPENAI_BASE_URL",
        "AGENTDOWN_PROVIDER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AZURE_FUNCTIONS_AGENTS_PROVIDER", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "from-os")
    monkeypatch.setenv("AGENTDOWN_MODEL", "gpt-x")
    model = model_from_env()
    assert isinstance(model, OpenAIChatModel)
    assert model.model_name == "gpt-x"
