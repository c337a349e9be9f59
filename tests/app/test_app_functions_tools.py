"""Tool modules written for the Azure Functions agents runtime load unchanged.

The fixture app (fixtures/functions_tools_app) uses the shapes of that runtime's samples:
``from azure_functions_agents import tool`` / ``workflow_tool``, ``from agent_framework
import tool, FunctionTool``, plain functions taking one pydantic model, and a tool module
importing an ``_underscore`` helper beside it.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import types
from pathlib import Path

import pytest
from apphelpers import MINIMAL, MakeApp, errors, messages, problems_of

from agentdown.app.catalog import load_app
from agentdown.app.diagnostics import Problems
from agentdown.tools import FunctionInvocationContext, FunctionTool

FIXTURE = Path(__file__).parent / "fixtures" / "functions_tools_app"
ENV = {"OPENAI_API_KEY": "test"}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    # A copy: discovery writes __pycache__, and a test may edit the files.
    return Path(shutil.copytree(FIXTURE, tmp_path / "functions_tools_app"))


async def call(tool: object, **arguments: object) -> object:
    assert isinstance(tool, FunctionTool)
    return await tool.invoke(arguments, FunctionInvocationContext(tool=tool, arguments=arguments))


def test_the_samples_tool_shapes_load(app: Path) -> None:
    catalog = load_app(app, environ=ENV)
    tools = {t.name: t for t in catalog.tools}
    assert sorted(tools) == ["add", "count_letters", "double", "lookup_case", "room_area", "shout"]
    assert [str(p) for p in catalog.problems] == []
    # Marked functions are workflow tools (for planned workflows), not agent tools.
    workflow = {t.name: t for t in catalog.workflow_tools}
    assert sorted(workflow) == ["collect_errors", "rank_errors"]
    assert workflow["collect_errors"].description.startswith("Collect the recent errors of a service.")
    assert (workflow["collect_errors"].file.name, workflow["collect_errors"].line) == ("triage_steps.py", 8)
    assert (tools["lookup_case"].file.name, tools["lookup_case"].line) == ("case_lookup.py", 6)


async def test_helpers_beside_tool_modules_are_importable(app: Path) -> None:
    tool = {t.name: t.tool for t in load_app(app, environ=ENV).tools}["lookup_case"]
    assert await call(tool, case_id="C-100") == {"title": "Printer on fire", "status": "open"}


async def test_a_single_pydantic_parameter_is_flattened_like_the_functions_runtime(app: Path) -> None:
    tools = {t.name: t.tool for t in load_app(app, environ=ENV).tools}
    # A plain function: the model sees the model's fields, the function gets a model instance.
    area = tools["room_area"]
    assert sorted(area.parameters["properties"]) == ["height", "width"]
    assert area.parameters["properties"]["width"]["description"] == "Width in metres."
    assert area.description == "Compute the floor area of a room."
    assert await call(area, width=3, height=4.5) == "13.5"
    # tool(schema=Model): the same convention.
    shout = tools["shout"]
    assert sorted(shout.parameters["properties"]) == ["times", "words"]
    assert shout.parameters["required"] == ["words"]
    assert await call(shout, words="hey", times=2) == "HEY HEY"
    # A bare @tool keeps the signature, as Agent Framework's FunctionTool does.
    letters = tools["count_letters"]
    assert list(letters.parameters["properties"]) == ["params"]
    assert await call(letters, params={"text": "a1 b2 c"}) == "3"


async def test_agent_framework_tool_and_function_tool(app: Path) -> None:
    tools = {t.name: t.tool for t in load_app(app, environ=ENV).tools}
    assert tools["add"].description == "Add two whole numbers."
    assert await call(tools["add"], a=2, b=3) == 5
    assert tools["double"].description == "Double a number."
    assert await call(tools["double"], n=21) == 42


def test_aliases_and_helpers_exist_only_while_tools_are_imported(app: Path) -> None:
    path_before = list(sys.path)
    load_app(app, environ=ENV)
    assert sys.path == path_before
    for name in ("azure_functions_agents", "agent_framework", "_case_data"):
        assert name not in sys.modules
    with pytest.raises(ImportError):
        __import__("azure_functions_agents")


def test_each_load_sees_its_own_helper(make_app: MakeApp) -> None:
    def app_with(value: str) -> Path:
        return make_app(
            {
                "a.agent.md": MINIMAL,
                "tools/_shared.py": f"VALUE = {value!r}\n",
                "tools/t.py": "from _shared import VALUE\n\ndef get() -> str:\n    return VALUE\n",
            }
        )

    one, two = app_with("one"), app_with("two")
    for app_dir, value in ((one, "one"), (two, "two")):
        tool = load_app(app_dir, environ=ENV).tools[0].tool
        assert isinstance(tool, FunctionTool) and tool() == value


def _install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    site = tmp_path / "site"
    (site / "azure_functions_agents").mkdir(parents=True)
    (site / "azure_functions_agents" / "__init__.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(site))
    # Recorded first, so the fake package imported by the test is removed again afterwards
    # (delitem alone restores nothing when the name was absent, and later tests would import it).
    monkeypatch.setitem(sys.modules, "azure_functions_agents", types.ModuleType("placeholder"))
    monkeypatch.delitem(sys.modules, "azure_functions_agents")


def test_an_installed_package_whose_tools_fit_is_used_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_app: MakeApp
) -> None:
    _install(
        tmp_path,
        monkeypatch,
        """
        class RealTool:
            def __init__(self, func):
                self.name, self.description = func.__name__, "real"
                self.parameters = {"type": "object", "properties": {}}
                self.func = func

            def invoke(self, arguments, context=None):
                return self.func()

        def tool(func):
            return RealTool(func)
        """,
    )
    app_dir = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/t.py": "from azure_functions_agents import tool\n\n@tool\ndef ping():\n    return 'pong'\n",
        }
    )
    (found,) = load_app(app_dir, environ=ENV).tools
    assert type(found.tool).__name__ == "RealTool"
    assert found.tool.description == "real"


def test_an_installed_package_whose_tools_do_not_fit_gets_the_alias_in_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_app: MakeApp
) -> None:
    _install(
        tmp_path,
        monkeypatch,
        """
        SETTING = 42

        def tool(func):
            return object()  # not an agentdown tool
        """,
    )
    app_dir = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/t.py": """\
                from azure_functions_agents import SETTING, tool

                @tool
                def ping() -> int:
                    return SETTING
                """,
        }
    )
    (found,) = load_app(app_dir, environ=ENV).tools
    assert isinstance(found.tool, FunctionTool) and found.tool() == 42
    assert sys.modules["azure_functions_agents"].SETTING == 42  # the real one is back


def test_a_missing_module_listed_in_requirements_says_what_to_install(make_app: MakeApp) -> None:
    app_dir = make_app(
        {
            "a.agent.md": MINIMAL,
            "requirements.txt": "-e ../..[monitor]\nno-such-distribution-xyz>=1.0  # the client\n",
            "tools/client.py": "import json\nimport no_such_distribution_xyz.sub\n\ndef f() -> str:\n    return ''\n",
            "tools/other.py": "import not_listed_anywhere_xyz\n",
        }
    )
    problems = problems_of(app_dir)
    client, other = app_dir / "tools" / "client.py", app_dir / "tools" / "other.py"
    assert messages(Problems(problems.warnings)) == [
        f"{client}:2: warning: importing this tool module failed: ModuleNotFoundError: No module named "
        f"'no_such_distribution_xyz'; 'no-such-distribution-xyz' is listed in requirements.txt:2 but not "
        f"installed here: run `pip install -r {app_dir / 'requirements.txt'}` (or `pip install "
        "no-such-distribution-xyz`); until then the agents run without this module's tools"
    ]
    assert errors(problems) == [
        f"{other}:1: error: importing this tool module failed: ModuleNotFoundError: No module named "
        "'not_listed_anywhere_xyz'; it is not in requirements.txt either: `pip install` the distribution "
        "that provides 'not_listed_anywhere_xyz' and list it in requirements.txt (Azure Functions "
        "installs only what is listed there)"
    ]
