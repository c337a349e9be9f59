"""An app written for the Azure Functions agents runtime loads unchanged (fixtures/functions_app)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdown.app.catalog import AgentCatalog, load_app
from agentdown.app.spec import BuiltinEndpoints, HttpAuth, HttpTrigger, QueueTrigger, TimerTrigger
from agentdown.testing import ScriptedModel

APP = Path(__file__).parent / "fixtures" / "functions_app"
ENV = {
    "OPENAI_API_KEY": "k",
    "FOUNDRY_MODEL": "gpt-5-mini",
    "SUBSCRIPTION_ID": "sub-123",
    "TO_EMAIL": "ops@example.com",
    "DOCS_HOST": "docs.example.com",
    "DOCS_TOKEN": "secret",
}


@pytest.fixture
def catalog() -> AgentCatalog:
    return load_app(APP, environ=ENV)


def test_loads_without_a_single_problem(catalog: AgentCatalog) -> None:
    assert [str(p) for p in catalog.problems] == []
    assert list(catalog.specs) == [
        "billing",
        "resource_summary",
        "summarize",
        "support",
        "daily_report",
        "main",
        "order_processor",
    ]
    summary = catalog.summary()
    assert (summary.agents, summary.tools, summary.skills, summary.mcp_servers) == (7, 2, 1, 1)
    assert (summary.triggers, summary.endpoints) == (4, 3)


def test_timer_agent(catalog: AgentCatalog) -> None:
    spec = catalog["daily_report"]
    assert spec.trigger == TimerTrigger(schedule="0 0 7 * * *", run_on_startup=False, use_monitor=True)
    assert (spec.logger, spec.timeout, spec.model, spec.builtin_endpoints.any) == (
        False,
        1800.0,
        "gpt-5-mini",
        False,
    )
    assert "subscription sub-123" in spec.instructions and "to ops@example.com." in spec.instructions
    assert "Subject: Daily report for $SUBSCRIPTION_ID" in spec.instructions  # fenced: untouched


def test_queue_agent_with_filters_and_metadata(catalog: AgentCatalog) -> None:
    spec = catalog["order_processor"]
    assert spec.trigger == QueueTrigger(queue_name="new-orders", connection="AzureWebJobsStorage")
    assert spec.builtin_endpoints == BuiltinEndpoints(chat_api=True)
    assert (spec.mcp.enabled, spec.skills.enabled, spec.tools.exclude) == (False, False, ("estimate_cost",))
    assert dict(spec.metadata) == {"owner": "orders-team@example.com", "tags": ["orders", "production"]}
    assert catalog.tool_names("order_processor") == ["compare_costs"]


def test_http_agents_and_response_formats(catalog: AgentCatalog) -> None:
    summarize = catalog["summarize"]
    assert summarize.trigger == HttpTrigger(
        route="summarize", methods=("POST",), http_auth=HttpAuth("function")
    )
    assert summarize.response_example == {
        "summary": "A brief summary of the content",
        "keywords": ["keyword1", "keyword2"],
        "sentiment": "positive",
    }
    assert summarize.input_schema is not None and summarize.input_schema["required"] == ["text"]
    resources = catalog["resource_summary"]
    assert resources.trigger == HttpTrigger(route="resource-summary", http_auth=HttpAuth("anonymous"))
    assert resources.response_schema is not None and resources.response_schema["required"] == [
        "total_resources",
        "by_type",
    ]
    assert dict(resources.system_tools) == {"dynamic_sessions_code_interpreter": False}


def test_endpoint_only_main_agent(catalog: AgentCatalog) -> None:
    spec = catalog["main"]
    assert spec.is_main and spec.trigger is None
    assert spec.builtin_endpoints == BuiltinEndpoints(True, True, True)
    assert spec.agent_configuration.max_output_tokens == 4096
    assert catalog.default_slug == "main"


async def test_built_agents(catalog: AgentCatalog) -> None:
    catalog = load_app(APP, environ=ENV, model=ScriptedModel(["ok"]))
    main = catalog.build_agent("main")
    assert [t.name for t in main.tools] == [
        "estimate_cost",
        "compare_costs",
        "load_skill",
        "read_skill_resource",
    ]
    assert [ts.name for ts in main.toolsets] == ["docs"]  # MCP tools are listed when a run starts
    assert "<name>cost-review</name>" in (main.system_prompt or "")
    assert main.options.max_output_tokens == 4096 and main.options.model == "gpt-5-mini"
    summarize = catalog.build_agent("summarize")
    assert summarize.output is not None and summarize.output.schema["required"] == [
        "summary",
        "keywords",
        "sentiment",
    ]
    resources = catalog.build_agent("resource_summary")
    assert resources.output is not None and resources.output.name == "resource_summary"
    support = catalog.build_agent("support")
    delegates = {t.name: t.description for t in support.tools if t.name.startswith("delegate_")}
    assert delegates == {
        "delegate_billing": "Billing, invoices, refunds, or subscription questions",
        "delegate_summarize": "Returns a structured summary of the posted text.",
    }
    await catalog.aclose()
