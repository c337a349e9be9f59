"""``tools/`` discovery: every tool of every module, protocol objects, import errors, names."""

from __future__ import annotations

from typing import Any

from apphelpers import MINIMAL, MakeApp, agent_md, errors, messages, problems_of

from agentdown.app.catalog import load_app
from agentdown.app.diagnostics import Problems
from agentdown.app.discovery import discover_tools
from agentdown.testing import ScriptedModel

ENV = {"OPENAI_API_KEY": "k"}

SEVERAL = """\
    from agentdown import tool, FunctionTool, Agent, normalize_tools


    @tool
    def first(x: int) -> int:
        \"\"\"First tool.\"\"\"
        return x


    @tool(name="second_one")
    async def second(y: str) -> str:
        \"\"\"Second tool.\"\"\"
        return y


    def helper(z: int) -> int:
        return z


    third = FunctionTool(helper, name="third", description="Third tool.")
    alias = first  # the same object under two names counts once


    class Weather:
        name = "weather"
        description = "A protocol tool."

        @property
        def parameters(self) -> dict:
            return {"type": "object", "properties": {}}

        def invoke(self, arguments, context):
            return "sunny"


    weather = Weather()
    _private = FunctionTool(helper, name="private")
    """


def test_every_tool_of_every_module(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/several.py": SEVERAL,
            "tools/more.py": "from agentdown import tool\n\n@tool\ndef fourth() -> str:\n    return 'x'\n",
        }
    )
    catalog = load_app(app, environ=ENV)
    found = {t.name: (t.file.name, t.line) for t in catalog.tools}
    assert found == {
        "fourth": ("more.py", 3),
        "first": ("several.py", 4),
        "second_one": ("several.py", 10),
        "third": ("several.py", 20),
        "weather": ("several.py", 36),
    }
    assert not catalog.problems
    assert catalog.tool_names("a") == ["fourth", "first", "second_one", "third", "weather"]


def test_tool_modules_import_each_other(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/_shared.py": "PREFIX = 'hi '\n",
            "tools/lib/__init__.py": "",
            "tools/lib/greet.py": """\
                from agentdown import tool
                from .._shared import PREFIX

                @tool
                def greet(name: str) -> str:
                    return PREFIX + name
                """,
            "tools/reexport.py": "from .lib.greet import greet\n",
        }
    )
    catalog = load_app(app, environ=ENV)
    # Defined in lib/greet.py, re-exported by reexport.py: one tool, reported where it is defined.
    assert [(t.name, t.file.relative_to(app).as_posix(), t.line) for t in catalog.tools] == [
        ("greet", "tools/lib/greet.py", 4)
    ]
    assert messages(Problems(catalog.problems)) == []


def test_each_load_imports_the_modules_afresh(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/t.py": "from agentdown import tool\n@tool\ndef one() -> int:\n    return 1\n",
        }
    )
    assert [t.name for t in load_app(app, environ=ENV).tools] == ["one"]
    (app / "tools" / "t.py").write_text(
        "from agentdown import tool\n@tool\ndef two() -> int:\n    return 2\n"
    )
    assert [t.name for t in load_app(app, environ=ENV).tools] == ["two"]


def test_two_apps_with_the_same_module_names_stay_apart(make_app: MakeApp) -> None:
    one = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/t.py": "from agentdown import tool\n@tool\ndef one() -> int:\n    return 1\n",
        }
    )
    two = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/t.py": "from agentdown import tool\n@tool\ndef two() -> int:\n    return 2\n",
        }
    )
    assert [t.name for t in load_app(one, environ=ENV).tools] == ["one"]
    assert [t.name for t in load_app(two, environ=ENV).tools] == ["two"]


def test_import_error_names_file_line_and_traceback(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/ok.py": "from agentdown import tool\n@tool\ndef fine() -> int:\n    return 1\n",
            "tools/broken.py": """\
                import json


                def boom():
                    raise RuntimeError("no config")


                boom()
                """,
        }
    )
    problems = problems_of(app)
    [problem] = problems.errors
    # The innermost line of the module's own code: where the exception was raised.
    assert (problem.file, problem.line) == (app / "tools" / "broken.py", 5)
    text = str(problem)
    assert text.startswith(
        f"{app / 'tools' / 'broken.py'}:5: error: importing this tool module failed: RuntimeError: no config\n"
    )
    assert "Traceback (most recent call last):" in text
    assert f'File "{app / "tools" / "broken.py"}", line 8, in <module>' in text
    assert f'File "{app / "tools" / "broken.py"}", line 5, in boom' in text
    assert "importlib" not in text  # only the app's own frames


def test_missing_dependency_and_syntax_error(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/needs.py": "import azure_functions_agents_not_installed\n",
            "tools/syntax.py": "def f(:\n    pass\n",
        }
    )
    found = errors(problems_of(app))
    assert found[0].startswith(
        f"{app / 'tools' / 'needs.py'}:1: error: importing this tool module failed: ModuleNotFoundError: "
        "No module named 'azure_functions_agents_not_installed'"
    )
    assert found[1].startswith(
        f"{app / 'tools' / 'syntax.py'}:1: error: importing this tool module failed: SyntaxError"
    )


def test_duplicate_tool_names_name_both_places(make_app: MakeApp) -> None:
    tool_a = "from agentdown import tool\n\n\n@tool\ndef lookup() -> str:\n    return 'a'\n"
    tool_b = "from agentdown import tool\n\n@tool(name='lookup')\ndef other() -> str:\n    return 'b'\n"
    app = make_app({"a.agent.md": MINIMAL, "tools/a.py": tool_a, "tools/b.py": tool_b})
    assert errors(problems_of(app)) == [
        f"{app / 'tools' / 'b.py'}:3: error: two tools are named 'lookup': this one and the one at "
        "tools/a.py:4; tool names must be unique (rename one, e.g. @tool(name=...))"
    ]


def test_object_with_invoke_that_is_not_a_tool(make_app: MakeApp) -> None:
    source = """\
        class Half:
            name = "half"
            parameters = {"type": "object"}

            def invoke(self, arguments, context):
                return 1


        half = Half()
        """
    app = make_app({"a.agent.md": MINIMAL, "tools/half.py": source})
    assert errors(problems_of(app)) == [
        f"{app / 'tools' / 'half.py'}:9: error: `half` has an `invoke` method but is not a tool: it lacks "
        "`description`; a tool needs `name: str`, `description: str`, `parameters: dict` and "
        "`invoke(arguments, context)`"
    ]


def test_invalid_protocol_tool_name(make_app: MakeApp) -> None:
    source = """\
        class T:
            name = "has space"
            description = "d"
            parameters = {"type": "object"}

            def invoke(self, arguments, context):
                return 1


        t = T()
        """
    app = make_app({"a.agent.md": MINIMAL, "tools/t.py": source})
    assert errors(problems_of(app)) == [
        f"{app / 'tools' / 't.py'}:10: error: invalid tool name 'has space': expected 1-64 letters, digits, '_' or '-'"
    ]


def test_plain_functions_become_tools_like_the_functions_runtime(make_app: MakeApp) -> None:
    app = make_app(
        {
            "a.agent.md": MINIMAL,
            "tools/plain.py": (
                "import json\n\n\n"
                'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b\n\n\n'
                'async def shout(text: str) -> str:\n    """Upper-case."""\n    return text.upper()\n\n\n'
                "def _hidden() -> None:\n    pass\n"
            ),
            "tools/empty.py": "X = 1\n",
            "tools/explicit.py": (
                "from agentdown import tool\n\n\n@tool\ndef mul(a: int, b: int) -> int:\n"
                '    """Multiply."""\n    return a * b\n\n\ndef helper() -> None:\n    pass\n'
            ),
        }
    )
    assert messages(problems_of(app)) == [
        f"{app / 'tools' / 'empty.py'}: warning: this module defines no tools; decorate functions with @tool "
        "(from agentdown import tool) or define plain public functions (name helper modules _like_this to skip them)",
    ]
    catalog = load_app(app, model=ScriptedModel([]))
    tools = {t.name: t for t in catalog.build_agent("a").tools}
    # Plain functions count only in modules without explicit tools; json.dumps is imported, not defined.
    assert sorted(tools) == ["add", "mul", "shout"]
    assert tools["add"].description == "Add two numbers."


def test_things_that_are_not_tools_are_skipped(make_app: MakeApp) -> None:
    source = """\
        import json
        from agentdown import FunctionTool, tool
        from agentdown.tools import normalize_tools


        class Runnable:  # has invoke but no parameters: not claimed as a tool
            def invoke(self, x):
                return x


        runner = Runnable()
        ToolClass = FunctionTool  # a class


        @tool
        def real() -> int:
            return 1
        """
    app = make_app({"a.agent.md": MINIMAL, "tools/mixed.py": source})
    catalog = load_app(app, environ=ENV)
    assert [t.name for t in catalog.tools] == ["real"]
    assert not catalog.problems


def test_toolsets_in_tools_are_collected(make_app: MakeApp) -> None:
    source = """\
        from agentdown import FunctionTool


        class Remote:
            name = "remote"

            async def list_tools(self):
                return [FunctionTool(lambda: "pong", name="ping", description="Ping.")]


        remote = Remote()
        """
    app = make_app({"a.agent.md": MINIMAL, "tools/remote.py": source})
    [found] = discover_tools(app, Problems())
    assert (found.name, found.is_toolset, found.line) == ("remote", True, 11)


async def test_include_and_exclude_per_agent(make_app: MakeApp) -> None:
    tools = "from agentdown import tool\n" + "".join(
        f"@tool\ndef {n}() -> str:\n    return '{n}'\n" for n in ("alpha", "beta", "gamma")
    )
    front = "name: n\ndescription: d\nbuiltin_endpoints: true\n"
    app = make_app(
        {
            "agents.config.yaml": "tools:\n  exclude: [gamma]\n",
            "all.agent.md": agent_md(front),
            "none.agent.md": agent_md(front + "tools: false"),
            "some.agent.md": agent_md(front + "tools:\n  exclude: [alpha]"),
            "only.agent.md": agent_md(front + "tools:\n  include: [gamma, beta]"),
            "tools/t.py": tools,
        }
    )
    catalog = load_app(app, environ=ENV)
    names: dict[str, Any] = {slug: catalog.tool_names(slug) for slug in catalog}
    assert names == {"all": ["alpha", "beta"], "none": [], "some": ["beta"], "only": ["beta", "gamma"]}
    agent = catalog.build_agent("only")
    assert [t.name for t in agent.tools] == ["beta", "gamma"]
    await catalog.aclose()


def test_unknown_names_in_filters(make_app: MakeApp) -> None:
    front = "name: n\ndescription: d\nbuiltin_endpoints: true\n"
    app = make_app(
        {
            "agents.config.yaml": "tools:\n  exclude: [gama]\n",
            "a.agent.md": agent_md(front + "tools:\n  include: [alpah]\n  exclude: [nope]"),
            "tools/t.py": "from agentdown import tool\n@tool\ndef alpha() -> int:\n    return 1\n@tool\ndef gamma() -> int:\n    return 1\n",
        }
    )
    assert messages(problems_of(app)) == [
        f"{app / 'a.agent.md'}:5: error: tools.include: no tool in tools/ named 'alpah' (did you mean 'alpha'?)",
        f"{app / 'a.agent.md'}:5: warning: tools.exclude: no tool in tools/ named 'nope'",
        f"{app / 'agents.config.yaml'}:1: warning: tools.exclude: no tool named 'gama' in tools/ (did you mean 'gamma'?)",
    ]
