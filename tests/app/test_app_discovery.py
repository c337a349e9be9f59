"""Finding agent files, and their slugs: replacement, trimming, ``fn_``, ``main`` and collisions."""

from __future__ import annotations

from pathlib import Path

import pytest
from apphelpers import MINIMAL, MakeApp, messages, problems_of

from agentdown.app.catalog import check_app, load_app
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


def test_two_files_with_one_slug_are_an_error_naming_both(make_app: MakeApp) -> None:
    # As the newest Azure Functions runtime: it refuses to start (older versions suffixed _2).
    app = make_app(
        {
            "daily-report.agent.md": MINIMAL,
            "daily_report.agent.md": MINIMAL,
            "agents/daily report.agent.md": MINIMAL,
            "agent.md": MINIMAL,
            "CLAUDE.md": MINIMAL,
        }
    )
    problems = Problems()
    found = {f.path.relative_to(app).as_posix(): f.slug for f in discover_agent_files(app, problems)}
    assert found == {"CLAUDE.md": "main", "agents/daily report.agent.md": "daily_report"}
    taken = "(the name of the agent's routes and delegate tool); rename one of the two files"
    assert messages(problems) == [
        f"{app / 'agent.md'}: error: CLAUDE.md already has the slug 'main' {taken}",
        f"{app / 'daily-report.agent.md'}: error: agents/daily report.agent.md already has the slug "
        f"'daily_report' {taken}",
        f"{app / 'daily_report.agent.md'}: error: agents/daily report.agent.md already has the slug "
        f"'daily_report' {taken}",
    ]
    assert load_app_fails(app)


def load_app_fails(app: Path) -> bool:
    catalog, problems = check_app(app, environ=ENV)
    return catalog is None and bool(problems.errors)


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


def test_claude_md_files_and_an_agents_folder_of_any_case_load(make_app: MakeApp) -> None:
    app = make_app(
        {
            "CLAUDE.md": MINIMAL,
            "Agents/summarize.claude.md": MINIMAL,
            "Agents/Billing.Claude.MD": MINIMAL,
            "Agents/.hidden.agent.md": MINIMAL,  # dotfiles are skipped
            "notes.claude.txt": "not an agent",
        }
    )
    catalog = load_app(app, environ=ENV)
    assert {slug: spec.file.relative_to(app).as_posix() for slug, spec in catalog.specs.items()} == {
        "main": "CLAUDE.md",
        "Billing": "Agents/Billing.Claude.MD",
        "summarize": "Agents/summarize.claude.md",
    }
    assert catalog["main"].is_main and not catalog.problems


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
