"""Finding agent files, and their slugs: replacement, trimming, ``fn_``, ``main`` and collisions."""

from __future__ import annotations

import pytest
from apphelpers import MINIMAL, MakeApp, messages, problems_of

from agentdown.app.catalog import load_app
from agentdown.app.diagnostics import Problems
from agentdown.app.discovery import discover_agent_files, slugify

ENV = {"OPENAI_API_KEY": "k"}


@pytest.mark.parametrize(
    ("stem", "slug"),
    [
        ("daily_report", "daily_report"),
        ("daily-report", "daily_report"),
        ("Daily Report.v2", "Daily_Report_v2"),
        ("9lives", "fn_9lives"),
        ("-weird-", "weird"),  # outer underscores are trimmed, as the Azure Functions runtime does
        ("_9", "fn_9"),
        ("été", "t"),
        ("---", "agent"),
    ],
)
def test_slugify(stem: str, slug: str) -> None:
    assert slugify(stem) == slug


def test_finds_agent_files_in_root_and_agents_folder(make_app: MakeApp) -> None:
    app = make_app(
        {
            "chat.agent.md": MINIMAL,
            "agents/billing.agent.md": MINIMAL,
            "agents/Tech-Support.AGENT.md": MINIMAL,  # the suffix is matched case-insensitively
            "agents/notes.md": "not an agent",
            "other/ignored.agent.md": MINIMAL,  # only the root and agents/ are searched
            "README.md": "# hi",
        }
    )
    catalog = load_app(app, environ=ENV)
    assert list(catalog.specs) == ["Tech_Support", "billing", "chat"]  # path order
    assert catalog["billing"].file == app / "agents" / "billing.agent.md"
    assert not catalog.problems


def test_agent_md_is_main(make_app: MakeApp) -> None:
    catalog = load_app(make_app({"agent.md": MINIMAL, "helper.agent.md": MINIMAL}), environ=ENV)
    assert catalog["main"].is_main and not catalog["helper"].is_main
    assert catalog.default_slug == "main"


def test_collisions_get_numbered_suffixes_in_path_order(make_app: MakeApp) -> None:
    app = make_app(
        {
            "daily-report.agent.md": MINIMAL,
            "daily_report.agent.md": MINIMAL,
            "agents/daily report.agent.md": MINIMAL,
            "agent.md": MINIMAL,
            "main.agent.md": MINIMAL,
        }
    )
    problems = Problems()
    found = {f.path.relative_to(app).as_posix(): f.slug for f in discover_agent_files(app, problems)}
    assert found == {
        "agent.md": "main",
        "agents/daily report.agent.md": "daily_report",
        "daily-report.agent.md": "daily_report_2",
        "daily_report.agent.md": "daily_report_3",
        "main.agent.md": "main_2",
    }
    assert messages(problems) == [
        f"{app / 'daily-report.agent.md'}: warning: agents/daily report.agent.md already has the slug "
        "'daily_report', so this agent is 'daily_report_2'; rename one file to choose its slug",
        f"{app / 'daily_report.agent.md'}: warning: agents/daily report.agent.md already has the slug "
        "'daily_report', so this agent is 'daily_report_3'; rename one file to choose its slug",
        f"{app / 'main.agent.md'}: warning: agent.md already has the slug 'main', so this agent is "
        "'main_2'; rename one file to choose its slug",
    ]


def test_suffix_that_is_taken_keeps_counting(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": MINIMAL, "a-.agent.md": MINIMAL, "a_2.agent.md": MINIMAL})
    slugs = {f.path.name: f.slug for f in discover_agent_files(app, Problems())}
    assert slugs == {"a-.agent.md": "a", "a.agent.md": "a_2", "a_2.agent.md": "a_2_2"}


def test_no_agent_files_is_an_error(make_app: MakeApp) -> None:
    app = make_app({"notes.md": "x"})
    assert messages(problems_of(app)) == [
        f"{app}: error: no agent files: expected *.agent.md (or agent.md) here or in agents/"
    ]


def test_not_a_folder(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": MINIMAL})
    assert messages(problems_of(app / "a.agent.md")) == [
        f"{app / 'a.agent.md'}: error: not a folder: expected an app folder holding *.agent.md files"
    ]


def test_claude_md_files_are_named_not_loaded(make_app: MakeApp) -> None:
    app = make_app({"a.agent.md": MINIMAL, "agents/summarize.claude.md": MINIMAL})
    assert messages(problems_of(app)) == [
        f"{app / 'agents' / 'summarize.claude.md'}: warning: agentdown loads *.agent.md files; "
        "rename this file to load it as an agent"
    ]


def test_resolve_and_default_slug(make_app: MakeApp) -> None:
    catalog = load_app(make_app({"b.agent.md": MINIMAL, "c.agent.md": MINIMAL}), environ=ENV)
    assert catalog.default_slug is None
    assert catalog.resolve("c").slug == "c"
    with pytest.raises(KeyError, match="several agents and none is 'main'; choose one of: b, c"):
        catalog.resolve(None)
    with pytest.raises(KeyError, match=r"no agent 'x' in .*; its agents are: b, c"):
        catalog.resolve("x")
    single = load_app(make_app({"only.agent.md": MINIMAL}), environ=ENV)
    assert single.default_slug == "only" and single.resolve(None).slug == "only"
