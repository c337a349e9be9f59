"""What the model is told about function tools: exact JSON Schema snapshots per signature form."""

from __future__ import annotations

import datetime
import enum
import functools
from typing import Annotated, Any, Literal, Optional

import pytest
from pydantic import BaseModel, Field
from tools_snapshot import assert_snapshot, definition

from agentdown.tools import FunctionInvocationContext, FunctionTool, tool


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Priority(enum.IntEnum):
    """How urgent a task is."""

    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    street: str
    city: str = Field(description="City name, in English.")
    postcode: str | None = None


class Person(BaseModel):
    name: str
    addresses: list[Address] = []


class TreeNode(BaseModel):
    """A node of a tree."""

    label: str
    children: list[TreeNode] = []


class SearchQuery(BaseModel):
    """Arguments of the search tool."""

    query: str = Field(description="What to search for.")
    limit: int = Field(10, ge=1, le=50)


def test_basic_types_and_defaults() -> None:
    @tool
    def book_table(restaurant: str, guests: int, budget: float = 50.0, outdoor: bool = False) -> str:
        """Book a table at a restaurant."""
        return "ok"

    assert_snapshot("basic", definition(book_table))


def test_annotated_string_metadata_is_the_description() -> None:
    @tool
    def get_weather(
        city: Annotated[str, "The city, e.g. Paris."], days: Annotated[int, "Days ahead (0 = today)."] = 0
    ) -> str:
        """Get the weather forecast."""
        return ""

    assert_snapshot("annotated_string", definition(get_weather))


def test_annotated_field_and_field_default() -> None:
    @tool
    def transfer(
        amount: Annotated[float, Field(gt=0, description="Amount in EUR.")],
        reference: Annotated[str, Field(max_length=35)] = "",
        note: str = Field(default="", description="Free text for the recipient."),
    ) -> str:
        """Transfer money."""
        return ""

    assert_snapshot("annotated_field", definition(transfer))


def test_literal_and_enums() -> None:
    @tool
    def convert(value: float, unit: Unit, mode: Literal["exact", "rounded"] = "exact") -> str:
        """Convert a temperature."""
        return ""

    @tool
    def add_task(title: str, priority: Priority = Priority.LOW) -> str:
        """Add a task."""
        return ""

    assert_snapshot("literal_enum", [definition(convert), definition(add_task)])


def test_optional_forms() -> None:
    @tool
    def find(query: str, limit: Optional[int] = None, since: datetime.date | None = None) -> str:  # noqa: UP045
        """Find documents."""
        return ""

    assert_snapshot("optional", definition(find))


def test_nested_and_recursive_models() -> None:
    @tool
    def register(person: Person, billing: Address | None = None) -> str:
        """Register a person."""
        return ""

    @tool
    def draw_tree(root: TreeNode) -> str:
        """Draw a tree."""
        return ""

    assert_snapshot("nested_models", [definition(register), definition(draw_tree)])


def test_collections() -> None:
    @tool
    def stats(
        values: list[float],
        weights: dict[str, float] | None = None,
        point: tuple[int, int] = (0, 0),
        labels: set[str] = frozenset(),  # type: ignore[assignment]
        extra: Any = None,
    ) -> str:
        """Compute statistics."""
        return ""

    assert_snapshot("collections", definition(stats))


def test_no_parameters_and_no_docstring() -> None:
    def ping() -> str:
        return "pong"

    tool_ = FunctionTool(ping)
    assert tool_.description == ""
    assert_snapshot("no_parameters", definition(tool_))


def test_google_docstring() -> None:
    @tool
    def search_flights(origin: str, destination: str, when: datetime.date, seats: int = 1) -> str:
        """Search for flights.

        Only direct flights are returned.

        Args:
            origin (str): IATA code of the departure airport.
            destination: IATA code of the arrival
                airport.
            when: Day of departure.
            seats: How many seats are needed.

        Returns:
            The flights as a list.
        """
        return ""

    assert_snapshot("docstring_google", definition(search_flights))


def test_sphinx_docstring() -> None:
    @tool
    def resize(path: str, width: int, height: int | None = None) -> str:
        """Resize an image.

        :param path: Path of the image.
        :param int width: New width in pixels.
        :param height: New height; keeps the aspect
            ratio when omitted.
        :type height: int or None
        :returns: The new path.
        """
        return ""

    assert_snapshot("docstring_sphinx", definition(resize))


def test_numpy_docstring() -> None:
    @tool
    def mix(red: int, green: int, blue: int) -> str:
        """Mix a colour.

        Parameters
        ----------
        red, green : int
            Channel value, 0-255.
        blue : int
            Blue channel.
        """
        return ""

    assert_snapshot("docstring_numpy", definition(mix))


def test_signature_descriptions_win_over_the_docstring() -> None:
    @tool
    def f(
        a: Annotated[int, "from Annotated"], b: Annotated[int, Field(description="from Field")], c: int
    ) -> None:
        """Do it.

        Args:
            a: from docstring
            b: from docstring
            c: from docstring
        """

    props = f.parameters["properties"]
    assert [props[k]["description"] for k in "abc"] == ["from Annotated", "from Field", "from docstring"]


def test_context_and_variadic_parameters_are_hidden() -> None:
    @tool
    def audit(action: str, ctx: FunctionInvocationContext, *args: Any, **kwargs: Any) -> str:
        """Record an action."""
        return ""

    @tool
    def audit_optional(action: str, ctx: FunctionInvocationContext | None = None) -> str:
        """Record an action."""
        return ""

    # The context type imported only under TYPE_CHECKING: its name is undefined at runtime.
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "def audit(action: str, ctx: FunctionInvocationContext, c2: Optional[FunctionInvocationContext]):\n"
        "    '''Record an action.'''\n",
        namespace,
    )
    type_checking_only = FunctionTool(namespace["audit"])

    assert audit.parameters == audit_optional.parameters == type_checking_only.parameters
    assert_snapshot("context_hidden", definition(audit))


def test_explicit_pydantic_schema() -> None:
    def search(query: str, limit: int) -> str:
        return ""

    assert_snapshot("explicit_model", definition(FunctionTool(search, schema=SearchQuery)))


def test_explicit_json_schema_dict() -> None:
    schema = {
        "type": "object",
        "properties": {"sql": {"type": "string", "description": "A read-only SQL query."}},
        "required": ["sql"],
    }

    @tool(schema=schema, name="run_sql", description="Run SQL against the warehouse.")
    def query(**kwargs: Any) -> str:
        return ""

    assert query.parameters == schema
    assert query.parameters is not schema  # a later change to the caller's dict cannot alter the tool
    assert_snapshot("explicit_dict", definition(query))


def test_property_named_title_is_kept() -> None:
    @tool
    def create_note(title: str, schema: str = "", json: int = 0) -> None:
        """Create a note."""

    assert list(create_note.parameters["properties"]) == ["title", "schema", "json"]
    assert create_note.parameters["required"] == ["title"]


class WeatherLookup:
    """Looks up the weather with a shared client."""

    def __call__(self, city: str) -> str:
        """Current weather for a city."""
        return city


class HTTPFetcher:
    """Fetch a URL."""

    def __call__(self, url: str) -> str:
        return url


class Calendar:
    def next_meeting(self, person: str) -> str:
        """The next meeting with someone.

        Args:
            person: Their name.
        """
        return person


def test_callable_instances_and_bound_methods_keep_real_names() -> None:
    lookup = FunctionTool(WeatherLookup())
    fetch = FunctionTool(HTTPFetcher())
    meeting = FunctionTool(Calendar().next_meeting)
    partial = FunctionTool(functools.partial(Calendar.next_meeting, Calendar()))
    assert (lookup.name, lookup.description) == ("weather_lookup", "Current weather for a city.")
    assert (fetch.name, fetch.description) == ("http_fetcher", "Fetch a URL.")
    assert (meeting.name, meeting.description) == ("next_meeting", "The next meeting with someone.")
    assert partial.name == "next_meeting"
    assert meeting.parameters == partial.parameters
    assert_snapshot("callable_names", [definition(lookup), definition(fetch), definition(meeting)])


def test_explicit_name_and_description_win() -> None:
    @tool(name="lookup-v2", description="")
    def lookup(q: str) -> str:
        """Ignored."""
        return q

    assert (lookup.name, lookup.description) == ("lookup-v2", "")


@pytest.mark.parametrize("bad", ["", "has space", "dots.not.allowed", "x" * 65, "naïve"])
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"\^\[A-Za-z0-9_-\]\{1,64\}\$") as err:
        FunctionTool(lambda: None, name=bad)
    assert repr(bad) in str(err.value)


def test_lambda_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"<lambda>.*pass name="):
        FunctionTool(lambda x: x)


def test_unsupported_parameter_type_names_function_and_parameter() -> None:
    class Opaque:
        pass

    def handle(thing: Opaque) -> None:
        pass

    with pytest.raises(TypeError, match=r"parameter 'thing' of tool function .*handle"):
        FunctionTool(handle, name="handle")


def test_unresolvable_annotation_is_explained() -> None:
    def handle(thing: NotImported) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(TypeError, match=r"'NotImported' of parameter 'thing'.*TYPE_CHECKING"):
        FunctionTool(handle)


def test_classes_are_not_tool_functions() -> None:
    with pytest.raises(TypeError, match=r"WeatherLookup is a class.*pass an instance"):
        FunctionTool(WeatherLookup)


def test_unbound_methods_are_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"not bound to an instance.*tool\(instance\.next_meeting\)"):
        FunctionTool(Calendar.next_meeting)

    class Local:
        def method(self, x: int) -> int:
            return x

    with pytest.raises(TypeError, match="not bound to an instance"):
        FunctionTool(Local.method)

    def self_is_just_a_name(self: str) -> str:  # a plain function, not a method
        return self

    assert "self" in FunctionTool(self_is_just_a_name).parameters["properties"]


def test_a_function_tool_can_be_rewrapped_with_other_options() -> None:
    base = tool(Calendar().next_meeting)
    renamed = tool(base, name="meeting_lookup", max_invocations=1)
    assert (renamed.name, renamed.func, renamed.max_invocations) == ("meeting_lookup", base.func, 1)
    assert renamed.parameters == base.parameters
