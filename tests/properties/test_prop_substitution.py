"""Property tests for ``$VAR`` / ``%VAR%`` substitution."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agentdown.app.substitution import has_placeholders, substitute_markdown, substitute_string

pytestmark = pytest.mark.timeout(60)

_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
# Literal text that cannot form or touch a placeholder.
_LITERAL = st.text(st.characters(codec="utf-8", exclude_characters="$%"), max_size=10).filter(
    lambda s: not s[:1].isalnum() and s[:1] != "_"
)
# Values full of placeholder syntax: substitution must never expand them again.
_VALUE = st.text(max_size=12) | st.sampled_from(["$A", "%A%", "$$A", "%%A%%", "$", "%", "$B_1"])


@given(st.dictionaries(_NAME, _VALUE, min_size=1, max_size=5), st.data())
@example({"A": "$A", "B": "%A%"}, None)
def test_values_are_inserted_once_and_never_expanded_again(
    env: dict[str, str], data: st.DataObject | None
) -> None:
    """A template of literals and placeholders of set variables renders to the literals and the
    values verbatim, even when a value itself looks like a placeholder or an escape."""
    names = sorted(env)
    if data is None:  # the explicit example: $A%A%$B
        parts = [("$", "A"), ("%", "A"), ("$", "B")]
        literals = ["", "", "", ""]
    else:
        parts = data.draw(
            st.lists(st.tuples(st.sampled_from(["$", "%"]), st.sampled_from(names)), max_size=6)
        )
        literals = data.draw(st.lists(_LITERAL, min_size=len(parts) + 1, max_size=len(parts) + 1))
    template = literals[0]
    expected = literals[0]
    for (sigil, name), literal in zip(parts, literals[1:], strict=True):
        template += f"${name}" if sigil == "$" else f"%{name}%"
        expected += env[name]
        template += literal
        expected += literal
    assert substitute_string(template, env) == expected


@given(st.text(max_size=60), st.dictionaries(_NAME, _VALUE, max_size=4))
def test_substitution_never_crashes_and_unset_names_stay_literal(text: str, env: dict[str, str]) -> None:
    out = substitute_string(text, env)
    assert substitute_string(text, {}) == substitute_string(text, {}).replace("\0", "\0")
    if "$" not in text and "%" not in text:
        assert out == text
    assert not has_placeholders(substitute_string(text, {})) or has_placeholders(text)


@given(_NAME, _VALUE)
def test_escapes_render_the_placeholder_literally(name: str, value: str) -> None:
    env = {name: value}
    assert substitute_string(f"$${name}", env) == f"${name}"
    assert substitute_string(f"%%{name}%%", env) == f"%{name}%"


@given(_NAME, _VALUE, st.sampled_from(["```", "~~~", "````", "   ```"]), st.text(max_size=20))
def test_fenced_code_is_kept_as_written(name: str, value: str, fence: str, info: str) -> None:
    info = info.replace("\n", " ").replace("\r", " ").replace("`", "")
    code = f"{fence}{info}\necho ${name} %{name}%\n{fence.strip()}\n"
    text = f"before ${name}\n{code}after %{name}%\n"
    out = substitute_markdown(text, {name: value})
    assert code in out
    assert out.startswith(f"before {value}\n")


@given(st.text(max_size=200), st.dictionaries(_NAME, _VALUE, max_size=3))
def test_markdown_substitution_keeps_lines_and_never_crashes(text: str, env: dict[str, str]) -> None:
    """With values without line breaks, substitution never adds or removes a line."""
    env = {k: v.replace("\n", "").replace("\r", "") for k, v in env.items()}
    out = substitute_markdown(text, env)
    assert len(out.splitlines()) == len(text.splitlines()) or not env
