"""Building agents from a catalog: tools, formats, options, subagents and cycles, models."""

from __future__ import annotations

import pytest
from apphelpers import MINIMAL, MakeApp, agent_md, errors, messages, problems_of

from agentdown.app.catalog import check_app, load_app
from agentdown.exceptions import ConfigurationError
from agentdown.messages import Message
from agentdown.testing import CallInfo, FunctionModel, Reply, ScriptedModel, tool_call

BASE = "name: n\ndescription: d\nbuiltin_endpoints: true\n"
TOOLS = "from agentdown import tool\n\n@tool\ndef shout(text: str) -> str:\n    return text.upper()\n"


async def test_agent_from_spec(make_app: MakeApp) -> None:
    front = BASE + "timeout: 12\nagent_configuration:\n  max_output_tokens: 99\nmodel: small"
    app = make_app({"a.agent.md": agent_md(front, "Shout things."), "tools/t.py": TOOLS})
    model = ScriptedModel([[tool_call("shout", {"text": "hi"})], "HI it is."])
    catalog = load_app(app, environ={}, model=model)
    agent = catalog.build_agent("a")
    assert catalog.build_agent("a") is agent  # cached
    assert (agent.name, agent.description, agent.timeout) == ("a", "d", 12.0)
    assert agent.system_prompt == "Shout things."
    assert (agent.options.max_output_tokens, agent.options.model) == (99, "small")
    result = await agent.run("shout hi")
    assert result.text == "HI it is."
    assert model.requests[0].options.max_output_tokens == 99
    await catalog.aclose()


async def test_response_example_and_schema(make_app: MakeApp) -> None:
    example = BASE + 'response_example: |\n  {"city": "Paris", "temp": 18}'
    schema = (
        BASE + "response_schema:\n  type: object\n  required: [ok]\n  properties:\n    ok: {type: boolean}"
    )
    app = make_app({"ex.agent.md": agent_md(example), "sc.agent.md": agent_md(schema)})
    model = ScriptedModel(['{"city": "Oslo", "temp": 3}', '{"ok": true}'])
    catalog = load_app(app, environ={}, model=model)
    assert (await catalog.build_agent("ex").run("?")).value == {"city": "Oslo", "temp": 3}
    assert (await catalog.build_agent("sc").run("?")).value == {"ok": True}
    assert "validates against this JSON Schema" in (catalog.build_agent("sc").system_prompt or "")


async def test_subagent_delegation(make_app: MakeApp) -> None:
    coordinator = agent_md(
        BASE + "subagents:\n  - agent: billing\n    when: Invoices and refunds.\n  - agent: tech",
        "Route questions.",
    )
    billing = agent_md("name: Billing\ndescription: Billing expert.", "You know invoices.")
    tech = agent_md("name: Tech\ndescription: Fixes bugs.", "You fix bugs.")

    def reply(messages: list[Message], info: CallInfo) -> Reply:
        system = messages[0].text if messages[0].role == "system" else ""
        if system.startswith("You know invoices."):
            return f"Invoice answer to: {messages[-1].text}"
        if messages[-1].role == "tool":
            return "Billing says: " + messages[-1].tool_results[0].text
        assert [t.name for t in info.tools] == ["delegate_billing", "delegate_tech"]
        return [tool_call("delegate_billing", {"task": "Explain invoice 42 for ACME"})]

    app = make_app({"coord.agent.md": coordinator, "billing.agent.md": billing, "tech.agent.md": tech})
    catalog = load_app(app, environ={}, model=FunctionModel(reply))
    assert [str(p) for p in catalog.problems] == []  # referenced specialists need no trigger
    agent = catalog.build_agent("coord")
    tools = {t.name: t for t in agent.tools}
    assert tools["delegate_billing"].description == "Invoices and refunds."
    assert tools["delegate_tech"].description == "Fixes bugs."
    assert tools["delegate_billing"].parameters["required"] == ["task"]
    assert catalog.build_agent("billing") is tools["delegate_billing"].agent  # type: ignore[attr-defined]
    result = await agent.run("Why is invoice 42 so high?")
    assert result.text == "Billing says: Invoice answer to: Explain invoice 42 for ACME"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "a.agent.md": agent_md(BASE + "subagents:\n  - agent: b"),
                "b.agent.md": agent_md(BASE + "subagents:\n  - agent: a"),
            },
            ["a.agent.md:6: error: subagents: delegation cycle a -> b -> a"],
        ),
        (
            {
                "x.agent.md": agent_md(BASE + "subagents:\n  - agent: y"),
                "y.agent.md": agent_md(BASE + "subagents:\n  - agent: leaf\n  - agent: z"),
                "z.agent.md": agent_md(BASE + "subagents:\n  - agent: x"),
                "leaf.agent.md": MINIMAL,
            },
            ["x.agent.md:6: error: subagents: delegation cycle x -> y -> z -> x"],
        ),
        (
            {
                "a.agent.md": agent_md(BASE + "subagents:\n  - agent: b"),
                "b.agent.md": agent_md(BASE + "subagents:\n  - agent: a\n  - agent: c"),
                "c.agent.md": agent_md(BASE + "subagents:\n  - agent: b"),
            },
            [
                "a.agent.md:6: error: subagents: delegation cycle a -> b -> a",
                "b.agent.md:7: error: subagents: delegation cycle b -> c -> b",
            ],
        ),
    ],
)
def test_cycles_are_reported_once_with_their_path(
    make_app: MakeApp, files: dict[str, str], expected: list[str]
) -> None:
    app = make_app(files)
    found = [e.replace(f"{app}/", "") for e in errors(problems_of(app))]
    assert [e.split(";")[0] for e in found] == expected
    assert found[0].endswith(
        "; an agent must not be able to delegate back to itself (remove one of these subagents entries)"
    )


def test_a_diamond_is_not_a_cycle(make_app: MakeApp) -> None:
    app = make_app(
        {
            "top.agent.md": agent_md(BASE + "subagents:\n  - agent: left\n  - agent: right"),
            "left.agent.md": agent_md(BASE + "subagents:\n  - agent: bottom"),
            "right.agent.md": agent_md(BASE + "subagents:\n  - agent: bottom"),
            "bottom.agent.md": MINIMAL,
        }
    )
    catalog = load_app(app, environ={}, model=ScriptedModel())
    top = catalog.build_agent("top")
    assert [t.name for t in top.tools] == ["delegate_left", "delegate_right"]
    assert catalog.build_agent("left").tools[0].agent is catalog.build_agent("right").tools[0].agent  # type: ignore[attr-defined]


def test_delegate_tool_name_clash(make_app: MakeApp) -> None:
    clash = "from agentdown import tool\n\n@tool\ndef delegate_b() -> str:\n    return ''\n"
    app = make_app(
        {
            "a.agent.md": agent_md(BASE + "subagents:\n  - agent: b"),
            "b.agent.md": MINIMAL,
            "tools/t.py": clash,
        }
    )
    assert errors(problems_of(app)) == [
        f"{app / 'a.agent.md'}:6: error: subagents: delegating to 'b' adds a tool 'delegate_b', but tools/ "
        "has one too (t.py:3); rename that tool"
    ]


def test_skill_tool_name_clash(make_app: MakeApp) -> None:
    clash = "from agentdown import tool\n\n@tool\ndef load_skill(x: str) -> str:\n    return ''\n"
    skill = "---\nname: demo\ndescription: A demo skill.\n---\nDo it.\n"
    app = make_app({"a.agent.md": MINIMAL, "tools/t.py": clash, "skills/demo/SKILL.md": skill})
    assert errors(problems_of(app)) == [
        f"{app / 'tools' / 't.py'}:3: error: the tool name 'load_skill' is taken by the skills/ tools "
        "(load_skill, read_skill_resource); rename this tool"
    ]


def test_skills_and_mcp_filters(make_app: MakeApp) -> None:
    skill = "---\nname: {0}\ndescription: Skill {0}.\n---\nBody of {0}.\n"
    mcp = '{"servers": {"one": {"url": "http://127.0.0.1:9/mcp"}, "two": {"url": "http://127.0.0.1:9/mcp"}}}'
    app = make_app(
        {
            "all.agent.md": MINIMAL,
            "some.agent.md": agent_md(BASE + "skills:\n  exclude: [alpha]\nmcp:\n  include: [two]"),
            "none.agent.md": agent_md(BASE + "skills: false\nmcp: false"),
            "skills/alpha/SKILL.md": skill.format("alpha"),
            "skills/beta/SKILL.md": skill.format("beta"),
            "mcp.json": mcp,
        }
    )
    catalog = load_app(app, environ={}, model=ScriptedModel())
    every = catalog.build_agent("all")
    assert [ts.name for ts in every.toolsets] == ["one", "two"]
    assert "<name>alpha</name>" in (every.system_prompt or "") and "<name>beta</name>" in (
        every.system_prompt or ""
    )
    some = catalog.build_agent("some")
    assert [ts.name for ts in some.toolsets] == ["two"]
    assert "<name>alpha</name>" not in (some.system_prompt or "")
    none = catalog.build_agent("none")
    assert (none.toolsets, none.tools, none.system_prompt) == ([], [], "Be helpful.")
    assert catalog.build_agent("all").toolsets[1] is some.toolsets[0]  # one connection per server


def test_excluding_an_unknown_mcp_server_or_skill_is_a_warning(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": agent_md(BASE + "mcp:\n  exclude: [dcos]\nskills:\n  exclude: [gone]")})
    assert messages(problems_of(app)) == [
        f"{app / 'a.agent.md'}:5: warning: mcp.exclude: no MCP server in mcp.json named 'dcos'",
        f"{app / 'a.agent.md'}:7: warning: skills.exclude: no skill in skills/ named 'gone'",
    ]


def test_problems_from_mcp_json_and_skills_are_included(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": MINIMAL, "mcp.json": '{"servers": {"x": {"type": "ftp", "url": "u"}}}'})
    [problem] = problems_of(app).errors
    assert (problem.file.name, problem.line) == ("mcp.json", 1)


def test_missing_provider_is_a_warning_for_check_an_error_to_build(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": agent_md(BASE + "model: big")})
    catalog, problems = check_app(app, environ={})
    assert catalog is not None
    [warning] = problems
    assert str(warning).startswith(
        f"{app / 'a.agent.md'}:5: warning: agent 'a' cannot run here yet: no model provider configured"
    )
    with pytest.raises(
        ConfigurationError, match=r"a\.agent\.md: agent 'a' has no usable model: no model provider"
    ):
        catalog.build_agent("a")
    strict, problems = check_app(app, environ={}, require_model=True)
    assert strict is None and problems.errors[0].severity == "error"


def test_one_model_per_model_name(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": MINIMAL,
            "b.agent.md": MINIMAL,
            "c.agent.md": agent_md(BASE + "model: other"),
        }
    )
    catalog = load_app(app, environ={"OPENAI_API_KEY": "k"})
    models = [catalog.model_for(catalog[s]) for s in ("a", "b", "c")]
    assert models[0] is models[1] and models[0] is not models[2]
    assert models[2].model_name == "other"


async def test_aclose_closes_models_and_resets(make_app: MakeApp) -> None:
    catalog = load_app(make_app({"a.agent.md": MINIMAL}), environ={"OPENAI_API_KEY": "k"})
    first = catalog.build_agent("a")
    await catalog.aclose()
    assert catalog.build_agent("a") is not first
    async with catalog:
        pass
