"""Default serialisation of tool return values, and docstring parsing."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from agentdown.messages import Content
from agentdown.tools import SKIP_PARSING, parse_tool_result
from agentdown.tools.docstrings import parse_docstring
from agentdown.tools.results import serialize_result


class Mood(str, enum.Enum):  # noqa: UP042  # str() of this mixin is 'Mood.HAPPY'
    HAPPY = "happy"


class Level(enum.Enum):
    HIGH = 3


@dataclasses.dataclass
class Reading:
    sensor: str
    at: datetime.datetime
    mood: Mood


class Forecast(BaseModel):
    city: str
    temps: list[float]


class Opaque:
    def __str__(self) -> str:
        return "opaque thing"


AT = datetime.datetime(2024, 5, 1, 12, 30)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain text", "plain text"),
        (None, ""),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        ({"b": [1, 2], "a": None}, '{"b":[1,2],"a":null}'),
        ([1, "x"], '[1,"x"]'),
        ((1, 2), "[1,2]"),
        ([], "[]"),
        ({"naïve": "café"}, '{"naïve":"café"}'),
        (Forecast(city="Oslo", temps=[1.5]), '{"city":"Oslo","temps":[1.5]}'),
        ([Forecast(city="A", temps=[])], '[{"city":"A","temps":[]}]'),
        (Reading("s1", AT, Mood.HAPPY), '{"sensor":"s1","at":"2024-05-01T12:30:00","mood":"happy"}'),
        ({"id": uuid.UUID(int=1)}, '{"id":"00000000-0000-0000-0000-000000000001"}'),
        (Mood.HAPPY, "happy"),
        (Level.HIGH, "3"),
        (Opaque(), "opaque thing"),
        (AT, "2024-05-01 12:30:00"),
    ],
)
def test_default_serialisation(value: Any, text: str) -> None:
    assert serialize_result(value) == (text, None)


def test_contents_become_items_with_their_text_joined() -> None:
    image = Content.from_uri("https://example.com/a.png", "image/png")
    assert serialize_result(image) == ("", [image])
    parts = [Content.from_text("first"), image, Content.from_text("second")]
    assert serialize_result(parts) == ("first\nsecond", parts)


def test_parsers() -> None:
    assert parse_tool_result(5, lambda v: f"<{v}>") == ("<5>", None)
    assert parse_tool_result(5, lambda v: []) == ("", [])
    assert parse_tool_result({"a": 1}, SKIP_PARSING) == ('{"a":1}', None)
    assert parse_tool_result("as is", SKIP_PARSING) == ("as is", None)
    with pytest.raises(TypeError, match="returned int; it must return str or list\\[Content\\]"):
        parse_tool_result(5, lambda v: 5)  # type: ignore[arg-type, return-value]


def test_docstring_without_parameter_sections_is_kept_whole() -> None:
    parsed = parse_docstring("""Summary line.

        Body paragraph
        on two lines.
        """)
    assert parsed.description == "Summary line.\n\nBody paragraph\non two lines."
    assert parsed.params == {}
    assert parse_docstring(None).description == ""


def test_google_docstring_variants() -> None:
    parsed = parse_docstring("""Do things.

    Arguments:
        path (str | None): Where.
        mode (Literal["a", "b"], optional): How; either
            a or b.
        *args: Extra values.
        **kwargs: Options.

    Raises:
        ValueError: When bad.
    """)
    assert parsed.params == {
        "path": "Where.",
        "mode": "How; either a or b.",
        "args": "Extra values.",
        "kwargs": "Options.",
    }
    assert parsed.description == "Do things.\n\nRaises:\n    ValueError: When bad."


def test_sphinx_docstring_variants() -> None:
    parsed = parse_docstring("""Do things.

    :param dict[str, int] counts: Per-key counts.
    :parameter name: A name.
    :param flag: Multi
        line.
    :rtype: None
    """)
    assert parsed.params == {"counts": "Per-key counts.", "name": "A name.", "flag": "Multi line."}
    assert parsed.description == "Do things.\n\n:rtype: None"
