"""mcp.json parsing: the accepted forms, substitution, and every problem with its file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentdown.app.mcp_config import (
    McpAuth,
    McpServerConfig,
    load_mcp_config,
    parse_mcp_config,
    parse_mcp_file,
)

FILE = Path("/app/mcp.json")


def parse(text: str, environ: dict[str, str] | None = None) -> tuple[dict[str, McpServerConfig], list[str]]:
    servers, problems = parse_mcp_config(text, FILE, environ or {})
    return servers, [str(p) for p in problems]


def test_azure_functions_runtime_file_loads_unchanged() -> None:
    # The shape the Azure Functions agents runtime reads: "servers", type http, ["*"], load_prompts.
    text = """{
  "servers": {
    "microsoft-learn": {
      "type": "http",
      "url": "https://learn.microsoft.com/api/mcp",
      "tools": ["*"],
      "load_prompts": false
    },
    "outlook": {
      "type": "http",
      "url": "$O365_MCP_SERVER_URL",
      "headers": {"x-api-key": "%O365_KEY%"},
      "auth": {"scope": "api://o365/.default", "client_id": "$O365_MCP_CLIENT_ID"}
    }
  }
}"""
    servers, problems = parse(text, {"O365_MCP_SERVER_URL": "https://o365.example/mcp", "O365_KEY": "k"})
    assert problems == []
    learn, outlook = servers["microsoft-learn"], servers["outlook"]
    assert (learn.transport, learn.url, learn.tools, learn.line) == (
        "streamable-http",
        "https://learn.microsoft.com/api/mcp",
        None,
        3,
    )
    assert outlook.url == "https://o365.example/mcp"
    assert outlook.headers == {"x-api-key": "k"}
    # An unresolved client id means "use the default credential", as in the runtime.
    assert outlook.auth == McpAuth("api://o365/.default", None)


def test_claude_style_file_and_type_inference(tmp_path: Path) -> None:
    text = json.dumps(
        {
            "mcpServers": {
                "files": {"command": "npx", "args": ["-y", "server-files", "$HOME"], "env": {"N": 3}},
                "remote": {"url": "http://localhost:8000/mcp"},
                "old": {
                    "type": "sse",
                    "url": "http://localhost:8000/sse",
                    "timeout": 5,
                    "connect_timeout": 2,
                },
                "off": {"command": "whatever", "disabled": True},
            }
        }
    )
    servers, problems = parse_mcp_config(text, tmp_path / "mcp.json", {"HOME": "/home/me"})
    assert not problems
    assert sorted(servers) == ["files", "old", "remote"]
    files = servers["files"]
    assert (files.transport, files.command, files.args) == (
        "stdio",
        "npx",
        ("-y", "server-files", "/home/me"),
    )
    assert files.env == {"N": "3"} and files.cwd == tmp_path
    assert servers["remote"].transport == "streamable-http"
    assert (servers["old"].transport, servers["old"].timeout, servers["old"].connect_timeout) == (
        "sse",
        5.0,
        2.0,
    )


def test_escapes_and_unset_variables() -> None:
    text = '{"servers": {"a": {"url": "http://h/mcp", "headers": {"A": "$$KEEP", "B": "%%KEEP%%", "C": "$NOPE", "D": "${X}"}}}}'
    servers, problems = parse(text, {"KEEP": "no"})
    assert servers["a"].headers == {"A": "$KEEP", "B": "%KEEP%", "C": "$NOPE", "D": "${X}"}
    assert problems == [
        "/app/mcp.json:1: warning: server 'a': headers.C: NOPE: not set in the environment, so the text stays literal",
        "/app/mcp.json:1: warning: server 'a': headers.D: ${...} is not substituted: write $VAR or %VAR%",
    ]


def test_keys_are_not_substituted() -> None:
    servers, _ = parse(
        '{"servers": {"$NAME": {"url": "http://h/mcp", "headers": {"$H": "v"}}}}', {"NAME": "x", "H": "y"}
    )
    assert list(servers) == ["$NAME"] and servers["$NAME"].headers == {"$H": "v"}


def test_invalid_json_names_line_and_column() -> None:
    _, problems = parse('{\n  "servers": {\n    "a": {"url": "http://h"},\n  }\n}')
    assert problems == [
        "/app/mcp.json:4: error: invalid JSON: Expecting property name enclosed in double quotes at column 3 "
        "(mcp.json is strict JSON: no comments, no trailing commas)"
    ]


def test_every_problem_is_reported_with_its_line() -> None:
    text = """{
  "servers": {
    "a": {"type": "ftp", "url": "http://h"},
    "b": {
      "command": "python",
      "args": ["x.py", 3],
      "url": "http://h",
      "envFile": ".env",
      "timeout": "10"
    },
    "c": {"headers": {"A": "b"}},
    "d": {"url": "not a url"},
    "e": {"url": "http://h", "headers": {"X": true}, "tools": "search"},
    "f": "nope",
    "g": {"url": "http://h", "auth": {"resource": "x"}}
  },
  "extra": 1
}"""
    servers, problems = parse(text)
    assert servers == {}
    assert problems == [
        '/app/mcp.json:3: error: server \'a\': type: expected "http", "sse" or "stdio", got "ftp"',
        '/app/mcp.json:6: error: server \'b\': args: expected an array of strings such as ["a", "b"], got ["x.py", 3]',
        "/app/mcp.json:7: error: server 'b': url: does not apply to a stdio server",
        "/app/mcp.json:8: error: server 'b': envFile: unknown key (VS Code's envFile is not supported: use env "
        "with $VAR); expected one of: args, auth, command, connect_timeout, cwd, disabled, env, headers, "
        "load_prompts, load_tools, timeout, tool_prefix, tools, type, url",
        "/app/mcp.json:9: error: server 'b': timeout: expected a positive number of seconds, got \"10\"",
        '/app/mcp.json:11: error: server \'c\': expected "url" (a remote server) or "command" (a local stdio server)',
        "/app/mcp.json:12: error: server 'd': url: expected an http:// or https:// URL, got 'not a url'",
        '/app/mcp.json:13: error: server \'e\': tools: expected an array of strings such as ["a", "b"], got "search"',
        "/app/mcp.json:13: error: server 'e': headers.X: expected a string, got a boolean",
        "/app/mcp.json:14: error: server 'f': expected an object, got a string",
        '/app/mcp.json:15: error: server \'g\': auth: expected {"scope": "api://<app>/.default"} and optionally '
        '"client_id"',
        '/app/mcp.json:17: error: unknown top-level key \'extra\'; expected "servers" (or "mcpServers")',
    ]


def test_a_server_whose_url_variable_is_unset_is_skipped_with_a_warning() -> None:
    # The Azure Functions runtime skips such a server and starts; so does agentdown, saying so.
    text = '{"servers": {\n"a": {"url": "$MCP_URL", "auth": {"scope": "s", "client_id": "$ID"}},\n"b": {"url": "https://b.example/mcp"}}}'
    parsed = parse_mcp_file(text, Path("/app/mcp.json"), {})
    assert [str(p) for p in parsed.problems] == [
        "/app/mcp.json:2: warning: server 'a': url: MCP_URL is not set in the environment, so this server "
        "is skipped (as in the Azure Functions runtime) and agents run without its tools; set it to use "
        "the server"
    ]
    assert list(parsed.servers) == ["b"]
    assert parsed.skipped == {"a": "its url names an unset environment variable"}


def test_a_url_that_is_not_http_is_still_an_error() -> None:
    _, problems = parse('{"servers": {\n"a": {"url": "ftp://x"}}}')
    assert problems == [
        "/app/mcp.json:2: error: server 'a': url: expected an http:// or https:// URL, got 'ftp://x'"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1]", '/app/mcp.json:1: error: expected a JSON object such as {"servers": {...}}, got an array'),
        (
            '{"servers": []}',
            '/app/mcp.json:1: error: "servers" must be an object of named servers, got an array',
        ),
        (
            '{"servers": {}, \n"mcpServers": {}}',
            '/app/mcp.json:2: error: use either "servers" or "mcpServers", not both',
        ),
        (
            '{"servers": {"a": {"url": "http://h"}, \n"a": {"url": "http://i"}}}',
            "/app/mcp.json:2: error: duplicate key 'a' (first given at line 1); each key may appear once",
        ),
        (
            '{"inputs": [{"id": "token"}], "servers": {}}',
            "/app/mcp.json:1: error: VS Code's prompted inputs are not supported; use $VAR instead",
        ),
    ],
)
def test_document_level_problems(text: str, expected: str) -> None:
    assert expected in parse(text)[1]


def test_tab_indented_json_still_gets_lines() -> None:
    _, problems = parse('{\n\t"servers": {\n\t\t"a": {\n\t\t\t"url": 5\n\t\t}\n\t}\n}')
    assert problems == [
        "/app/mcp.json:4: error: server 'a': url: expected an http:// or https:// URL, got a number 5"
    ]


def test_load_mcp_config_reads_files(tmp_path: Path) -> None:
    assert load_mcp_config(tmp_path / "mcp.json", {}) == ({}, [])
    (tmp_path / "mcp.json").write_text('\ufeff{"servers": {"s": {"command": "srv", "cwd": "tools"}}}')
    servers, problems = load_mcp_config(tmp_path / "mcp.json", {})
    assert not problems and servers["s"].cwd == tmp_path / "tools"
    assert servers["s"].file == tmp_path / "mcp.json"


def test_describe_hides_credentials() -> None:
    config = McpServerConfig("a", "streamable-http", url="https://user:pw@example.com/mcp?code=secret")
    assert config.describe() == "streamable HTTP https://example.com/mcp?..."
    assert McpServerConfig("b", "stdio", command="npx", args=("srv",)).describe() == "stdio: npx srv"


def test_config_in_code_is_checked() -> None:
    with pytest.raises(ValueError, match="a stdio server needs a command"):
        McpServerConfig("a", "stdio", url="http://h")
    with pytest.raises(ValueError, match="transport must be one of"):
        McpServerConfig("a", "websocket", url="ws://h")  # type: ignore[arg-type]
