"""``agents.config.yaml`` merged under front matter: the documented precedence, key by key."""

from __future__ import annotations

from typing import Any

from apphelpers import MakeApp, agent_md, messages, problems_of

from agentdown.app.catalog import load_app
from agentdown.app.spec import EntraAuth, HttpAuth

BASE = "name: n\ndescription: d\nbuiltin_endpoints: true\n"
KEY = {"OPENAI_API_KEY": "k"}


def test_model_precedence(make_app: MakeApp) -> None:
    app = make_app(
        {
            "agents.config.yaml": "model: from-config\n",
            "own.agent.md": agent_md(BASE + "model: from-front-matter"),
            "inherits.agent.md": agent_md(BASE),
        }
    )
    catalog = load_app(app, environ={**KEY, "AGENTDOWN_MODEL": "from-env"})
    assert catalog["own"].model == "from-front-matter"
    assert catalog["inherits"].model == "from-config"
    # The model objects: front matter and config names beat the environment's.
    assert catalog.model_for(catalog["own"]).model_name == "from-front-matter"
    assert catalog.model_for(catalog["inherits"]).model_name == "from-config"


def test_model_from_environment_without_config(make_app: MakeApp) -> None:
    catalog = load_app(
        make_app({"a.agent.md": agent_md(BASE)}), environ={**KEY, "AGENTDOWN_MODEL": "env-model"}
    )
    assert catalog["a"].model is None
    assert catalog.model_for(catalog["a"]).model_name == "env-model"


def test_timeout_precedence(make_app: MakeApp) -> None:
    files = {"own.agent.md": agent_md(BASE + "timeout: 10"), "inherits.agent.md": agent_md(BASE)}
    with_config = load_app(
        make_app({**files, "agents.config.yaml": "timeout: 20\n"}),
        environ={**KEY, "AGENTDOWN_TIMEOUT_SECONDS": "30"},
    )
    assert (with_config["own"].timeout, with_config["inherits"].timeout) == (10.0, 20.0)
    from_env = load_app(make_app(files), environ={**KEY, "AZURE_FUNCTIONS_AGENTS_TIMEOUT_SECONDS": "40"})
    assert from_env["inherits"].timeout == 40.0
    ours_first = load_app(
        make_app(files),
        environ={**KEY, "AGENTDOWN_TIMEOUT_SECONDS": "30", "AZURE_FUNCTIONS_AGENTS_TIMEOUT_SECONDS": "40"},
    )
    assert ours_first["inherits"].timeout == 30.0
    assert load_app(make_app(files), environ=KEY)["inherits"].timeout == 900.0


def test_tool_excludes_add_up_and_include_wins(make_app: MakeApp) -> None:
    app = make_app(
        {
            "agents.config.yaml": "tools:\n  exclude: [bash, shell]\n",
            "a.agent.md": agent_md(BASE + "tools:\n  exclude: [fetch]"),
            "b.agent.md": agent_md(BASE + "tools:\n  include: [shell, fetch]"),
            "c.agent.md": agent_md(BASE + "tools: false"),
            "tools/t.py": "from agentdown import tool\n"
            + "".join(f"@tool\ndef {n}() -> str:\n    return ''\n" for n in ("bash", "shell", "fetch")),
        }
    )
    catalog = load_app(app, environ=KEY)
    assert catalog["a"].tools.exclude == ("fetch", "bash", "shell")
    assert (catalog["b"].tools.include, catalog["b"].tools.exclude) == (("shell", "fetch"), ("bash",))
    assert catalog["b"].tools.allows("shell") and not catalog["b"].tools.allows("bash")
    assert not catalog["c"].tools.enabled and not catalog["c"].tools.allows("anything")


def test_agent_configuration_merges_recursively_and_null_clears(make_app: MakeApp) -> None:
    config = "agent_configuration:\n  max_output_tokens: 4096\n  agent_framework:\n    compaction:\n      max_context_window_tokens: 8192\n"
    app = make_app(
        {
            "agents.config.yaml": config,
            "inherits.agent.md": agent_md(BASE),
            "own.agent.md": agent_md(BASE + "agent_configuration:\n  max_output_tokens: 100"),
            "clears.agent.md": agent_md(BASE + "agent_configuration:\n  max_output_tokens: null"),
            "deep.agent.md": agent_md(
                BASE + "agent_configuration:\n  agent_framework:\n    compaction:\n      strategy: summarize"
            ),
        }
    )
    catalog = load_app(app, environ=KEY)
    assert catalog["inherits"].agent_configuration.max_output_tokens == 4096
    assert catalog["own"].agent_configuration.max_output_tokens == 100
    assert catalog["clears"].agent_configuration.max_output_tokens is None
    assert dict(catalog["deep"].agent_configuration.agent_framework) == {
        "compaction": {"max_context_window_tokens": 8192, "strategy": "summarize"}
    }


def test_http_auth_precedence(make_app: MakeApp) -> None:
    app = make_app(
        {
            "agents.config.yaml": "http_auth: admin\n",
            "inherits.agent.md": agent_md(BASE),
            "own.agent.md": agent_md(BASE + "http_auth: anonymous"),
            "nested.agent.md": agent_md(
                "name: n\ndescription: d\nbuiltin_endpoints:\n  chat_api: true\n  http_auth:\n    mode: entra\n"
                "    entra:\n      tenant_id: $TENANT\n      allowed_audiences: [api://x]"
            ),
        }
    )
    catalog = load_app(app, environ={**KEY, "TENANT": "t-1"})
    assert catalog["inherits"].http_auth == HttpAuth("admin")
    assert catalog["own"].http_auth == HttpAuth("anonymous")
    assert catalog["nested"].http_auth == HttpAuth("entra", EntraAuth("t-1", ("api://x",), ()))
    assert load_app(make_app({"a.agent.md": agent_md(BASE)}), environ=KEY)["a"].http_auth == HttpAuth(
        "function"
    )


def test_http_auth_given_twice(make_app: MakeApp) -> None:
    front = "name: n\ndescription: d\nhttp_auth: admin\nbuiltin_endpoints:\n  chat_api: true\n  http_auth: anonymous"
    app = make_app({"a.agent.md": agent_md(front)})
    assert messages(problems_of(app)) == [
        f"{app / 'a.agent.md'}:4: error: http_auth: give http_auth once: here or under builtin_endpoints, not both"
    ]


def test_builtin_endpoint_forms(make_app: MakeApp) -> None:
    app = make_app(
        {
            "all.agent.md": agent_md("name: n\ndescription: d\nbuiltin_endpoints: true"),
            "ui.agent.md": agent_md("name: n\ndescription: d\nbuiltin_endpoints:\n  debug_chat_ui: true"),
            "mcp.agent.md": agent_md("name: n\ndescription: d\nbuiltin_endpoints:\n  mcp: true"),
            "off.agent.md": agent_md(
                "name: n\ndescription: d\nbuiltin_endpoints: false\ntrigger:\n  type: timer_trigger\n"
                "  args:\n    schedule: 0 * * * *"
            ),
        }
    )
    catalog = load_app(app, environ=KEY)
    endpoints = {slug: catalog[slug].builtin_endpoints for slug in catalog}
    assert (endpoints["all"].debug_chat_ui, endpoints["all"].chat_api, endpoints["all"].mcp) == (
        True,
        True,
        True,
    )
    assert (endpoints["ui"].debug_chat_ui, endpoints["ui"].chat_api, endpoints["ui"].mcp) == (
        True,
        True,
        False,
    )
    assert (endpoints["mcp"].chat_api, endpoints["mcp"].mcp) == (False, True)
    assert not endpoints["off"].any


def test_system_tools(make_app: MakeApp) -> None:
    config = "system_tools:\n  dynamic_sessions_code_interpreter:\n    endpoint: https://pool\n  web_request: true\n"
    app = make_app(
        {"agents.config.yaml": config, "a.agent.md": agent_md(BASE + "system_tools:\n  web_request: false")}
    )
    catalog = load_app(app, environ=KEY)
    assert dict(catalog["a"].system_tools) == {"web_request": False}
    assert dict(catalog.config.system_tools) == {
        "dynamic_sessions_code_interpreter": {"endpoint": "https://pool", "client_id": None},
        "web_request": True,
    }
    path = app / "agents.config.yaml"
    assert messages(problems_of(app)) == [
        f"{path}:3: warning: system_tools.dynamic_sessions_code_interpreter.endpoint: 'https://pool' is not an "
        "https://<pool>.dynamicsessions.io endpoint: agents run execute_python in agentdown's local sandbox instead",
    ]


def test_code_interpreter_where_switched_on(make_app: MakeApp, tmp_path: Any) -> None:
    from agentdown.tools.system.code_interpreter import DynamicSessionsCodeInterpreter, LocalCodeInterpreter

    env = {**KEY, "AGENTDOWN_DATA_DIR": str(tmp_path / "data")}
    files = {
        "a.agent.md": agent_md(BASE),
        "b.agent.md": agent_md(BASE + "system_tools:\n  dynamic_sessions_code_interpreter: false"),
    }
    # A sample's config with its pool variable unset: the local sandbox, for every agent that does not opt out.
    sample = "system_tools:\n  dynamic_sessions_code_interpreter:\n    endpoint: $ACA_SESSION_POOL_ENDPOINT\n"
    catalog = load_app(make_app({**files, "agents.config.yaml": sample}), environ=env)
    (tool,) = [t for t in catalog.build_agent("a").tools if t.name == "execute_python"]
    assert isinstance(tool, LocalCodeInterpreter) and "execute_python" not in _tool_names(catalog, "b")
    pool = "system_tools:\n  dynamic_sessions_code_interpreter:\n    endpoint: https://pool1.westus.dynamicsessions.io\n"
    remote = load_app(make_app({**files, "agents.config.yaml": pool}), environ=env)
    (tool,) = [t for t in remote.build_agent("a").tools if t.name == "execute_python"]
    assert isinstance(tool, DynamicSessionsCodeInterpreter)
    # Without the config, an agent's own switch turns the local sandbox on for it alone.
    own = load_app(
        make_app(
            {
                "a.agent.md": agent_md(BASE + "system_tools:\n  dynamic_sessions_code_interpreter: true"),
                "c.agent.md": agent_md(BASE),
            }
        ),
        environ=env,
    )
    assert "execute_python" in _tool_names(own, "a") and "execute_python" not in _tool_names(own, "c")


def _tool_names(catalog: Any, slug: str) -> list[str]:
    return [t.name for t in catalog.build_agent(slug).tools]


def test_web_request_is_off_unless_switched_on(make_app: MakeApp) -> None:
    on = BASE + "system_tools:\n  web_request: true"
    files = {"a.agent.md": agent_md(BASE), "b.agent.md": agent_md(on)}
    catalog = load_app(make_app(files), environ=KEY)
    assert "web_request" not in _tool_names(catalog, "a") and "web_request" in _tool_names(catalog, "b")
    everyone = {**files, "c.agent.md": agent_md(BASE + "system_tools:\n  web_request: false")}
    config_on = load_app(
        make_app({**everyone, "agents.config.yaml": "system_tools:\n  web_request: true\n"}), environ=KEY
    )
    assert [("web_request" in _tool_names(config_on, s)) for s in "abc"] == [True, True, False]
    # The config's false is app-wide: an agent cannot switch it back on.
    config_off = load_app(
        make_app({**files, "agents.config.yaml": "system_tools:\n  web_request: false\n"}), environ=KEY
    )
    assert "web_request" not in _tool_names(config_off, "b")


def test_an_app_of_the_functions_runtime_hears_that_web_request_is_off(make_app: MakeApp) -> None:
    entry = "from azure_functions_agents import create_function_app\napp = create_function_app()\n"
    app = make_app({"a.agent.md": agent_md(BASE), "function_app.py": entry})
    (warning,) = messages(problems_of(app, KEY))
    assert "warning: system_tools.web_request" in warning and "system_tools: {web_request: true}" in warning
    configured = make_app(
        {
            "a.agent.md": agent_md(BASE),
            "function_app.py": entry,
            "agents.config.yaml": "system_tools:\n  web_request: false\n",
        }
    )
    assert messages(problems_of(configured, KEY)) == []


def test_web_request_settings_from_the_config(make_app: MakeApp) -> None:
    config = "system_tools:\n  web_request:\n    allowed_hosts: [api.example.com]\n    timeout_seconds: 5\n"
    catalog = load_app(make_app({"agents.config.yaml": config, "a.agent.md": agent_md(BASE)}), environ=KEY)
    (tool,) = [t for t in catalog.build_agent("a").tools if t.name == "web_request"]
    assert tool.settings.allowed_hosts == ("api.example.com",) and tool.settings.timeout_seconds == 5


def test_bad_web_request_settings_name_the_line(make_app: MakeApp) -> None:
    config = "system_tools:\n  web_request:\n    allowed_hosts: [ 'http://x/' ]\n"
    app = make_app({"agents.config.yaml": config, "a.agent.md": agent_md(BASE)})
    (problem,) = messages(problems_of(app))
    assert (
        problem.startswith(f"{app / 'agents.config.yaml'}:") and "error: system_tools.web_request" in problem
    )
    assert "allowed_hosts" in problem


def test_sdk_mode_is_accepted_and_ignored(make_app: MakeApp) -> None:
    app = make_app({"agents.config.yaml": "sdk_mode: copilot-sdk\n", "a.agent.md": agent_md(BASE)})
    assert messages(problems_of(app)) == [
        f"{app / 'agents.config.yaml'}:1: warning: sdk_mode: agentdown has a single agent loop; sdk_mode is ignored"
    ]


def test_empty_config_file(make_app: MakeApp) -> None:
    catalog = load_app(
        make_app({"agents.config.yaml": "# nothing yet\n", "a.agent.md": agent_md(BASE)}), environ=KEY
    )
    assert catalog["a"].timeout == 900.0 and catalog.config.model is None
