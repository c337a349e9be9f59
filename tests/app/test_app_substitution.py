"""``$VAR`` / ``%VAR%`` substitution: every rule and every exception of the contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from apphelpers import MakeApp, agent_md

from agentdown.app.catalog import load_app
from agentdown.app.substitution import (
    has_placeholders,
    substitute_markdown,
    substitute_string,
    substitute_values,
)

ENV = {"HOST": "contoso.internal", "TO_EMAIL": "alice@example.com", "TEAM": "Engineering", "VAR": "v"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail $TO_EMAIL now", "mail alice@example.com now"),
        ("https://%HOST%/api", "https://contoso.internal/api"),
        ("$HOST", "contoso.internal"),  # a whole value is substituted too
        ("$TEAM$HOST", "Engineeringcontoso.internal"),
        ("%TEAM%%HOST%", "Engineeringcontoso.internal"),
        ("$VAR-NAME", "v-NAME"),  # $IDENT ends at the first character outside [A-Za-z0-9_]
        ("$VAR_NAME", "$VAR_NAME"),  # ... so this is the variable VAR_NAME, which is unset
        ("%VAR-NAME%", "%VAR-NAME%"),  # %IDENT% needs the closing % right after the name
        ("$UNSET stays", "$UNSET stays"),  # unset variables stay literal
        ("%UNSET% stays", "%UNSET% stays"),
        ("${HOST}", "${HOST}"),  # brace syntax is not a placeholder
        ("$9PORT", "$9PORT"),  # names cannot start with a digit
        ("%9PORT%", "%9PORT%"),
        ("$$HOST", "$HOST"),  # escapes render the placeholder literally
        ("%%HOST%%", "%HOST%"),
        ("cost: $5 or 50%", "cost: $5 or 50%"),
        ("$", "$"),
        ("", ""),
    ],
)
def test_substitute_string(text: str, expected: str) -> None:
    assert substitute_string(text, ENV) == expected


def test_values_are_substituted_once() -> None:
    # A variable's value is not itself scanned for placeholders.
    assert substitute_string("$A", {"A": "%B%", "B": "no"}) == "%B%"
    assert substitute_string("%A%", {"A": "$B", "B": "no"}) == "$B"


def test_substitute_values_touches_values_not_keys() -> None:
    data = {"$HOST": "$HOST", "list": ["%TEAM%", 3, None, True], "nested": {"%TEAM%": {"k": "$TO_EMAIL"}}}
    assert substitute_values(data, ENV) == {
        "$HOST": "contoso.internal",
        "list": ["Engineering", 3, None, True],
        "nested": {"%TEAM%": {"k": "alice@example.com"}},
    }


def test_markdown_keeps_fenced_code_blocks() -> None:
    body = (
        "Send to $TO_EMAIL.\n"
        "```bash\n"
        "echo $HOST %TEAM%\n"
        "```\n"
        "Team %TEAM%, inline `$HOST` is substituted.\n"
        "~~~\n"
        "$HOST in a tilde fence\n"
        "~~~\n"
        "````md\n"
        "```\n"
        "$HOST inside a longer fence\n"
        "````\n"
        "after: $HOST\n"
    )
    assert substitute_markdown(body, ENV) == (
        "Send to alice@example.com.\n"
        "```bash\n"
        "echo $HOST %TEAM%\n"
        "```\n"
        "Team Engineering, inline `contoso.internal` is substituted.\n"
        "~~~\n"
        "$HOST in a tilde fence\n"
        "~~~\n"
        "````md\n"
        "```\n"
        "$HOST inside a longer fence\n"
        "````\n"
        "after: contoso.internal\n"
    )


def test_markdown_unclosed_fence_runs_to_the_end() -> None:
    assert substitute_markdown("$HOST\n```\n$HOST\n", ENV) == "contoso.internal\n```\n$HOST\n"


def test_markdown_inline_triple_backticks_are_not_a_fence() -> None:
    assert substitute_markdown("```x``` $HOST\n", ENV) == "```x``` contoso.internal\n"


def test_has_placeholders() -> None:
    assert has_placeholders("$A") and has_placeholders("x %A% y")
    assert not has_placeholders("$$A") and not has_placeholders("${A}") and not has_placeholders("50%")


def test_agent_file_front_matter_and_body(make_app: MakeApp) -> None:
    front = """\
        name: Notifier for %TEAM%
        description: Sends updates to $TEAM
        model: $MODEL_NAME
        metadata:
          $HOST: "$HOST"
        """
    body = "Email $TO_EMAIL.\n\n```\n$TO_EMAIL\n```\n"
    app = make_app({"notifier.agent.md": agent_md(front + "builtin_endpoints: true", body)})
    spec = load_app(app, environ={**ENV, "MODEL_NAME": "gpt-x", "OPENAI_API_KEY": "k"})["notifier"]
    assert spec.name == "Notifier for Engineering"
    assert spec.description == "Sends updates to Engineering"
    assert spec.model == "gpt-x"
    assert dict(spec.metadata) == {"$HOST": "contoso.internal"}
    assert spec.instructions == "Email alice@example.com.\n\n```\n$TO_EMAIL\n```"


def test_substitute_variables_false_keeps_everything_literal(make_app: MakeApp) -> None:
    front = """\
        name: $TEAM
        description: d
        substitute_variables: false
        builtin_endpoints: true
        response_example: '{"to": "$TO_EMAIL"}'
        """
    app = make_app({"a.agent.md": agent_md(front, "Send to $TO_EMAIL and %TEAM%.")})
    spec = load_app(app, environ={**ENV, "OPENAI_API_KEY": "k"})["a"]
    assert (spec.name, spec.substitute_variables) == ("$TEAM", False)
    assert spec.response_example == {"to": "$TO_EMAIL"}
    assert spec.instructions == "Send to $TO_EMAIL and %TEAM%."


def test_numbers_and_booleans_from_placeholders(make_app: MakeApp) -> None:
    front = "name: n\ndescription: d\nbuiltin_endpoints: true\ntimeout: $TIMEOUT\nlogger: $LOGGING"
    app = make_app({"a.agent.md": agent_md(front)})
    spec = load_app(app, environ={"TIMEOUT": "42.5", "LOGGING": "false", "OPENAI_API_KEY": "k"})["a"]
    assert (spec.timeout, spec.logger) == (42.5, False)


def test_config_file_is_substituted_regardless_of_agent_switch(make_app: MakeApp) -> None:
    config = "model: $DEFAULT_MODEL\ntimeout: '%T%'\n"
    front = "name: n\ndescription: d\nbuiltin_endpoints: true\nsubstitute_variables: false"
    app = make_app({"agents.config.yaml": config, "a.agent.md": agent_md(front)})
    spec = load_app(app, environ={"DEFAULT_MODEL": "m1", "T": "12", "OPENAI_API_KEY": "k"})["a"]
    assert (spec.model, spec.timeout) == ("m1", 12.0)


def test_unset_model_placeholder_falls_back_with_a_warning(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app({"a.agent.md": agent_md("name: n\ndescription: d\nbuiltin_endpoints: true\nmodel: $NOPE")})
    catalog = load_app(app, environ={"OPENAI_API_KEY": "k"})
    assert catalog["a"].model is None
    assert [str(p) for p in catalog.problems] == [
        f"{app / 'a.agent.md'}:5: warning: model: $NOPE is not set, so the model comes from the environment"
    ]
