"""Settings and front matter additions: connection resolution, host settings, outputs, binding expressions."""

from __future__ import annotations

from pathlib import Path

import pytest
from _triggers_apps import agent_file, make_app

from agentdown.app import load_app
from agentdown.app.catalog import check_app
from agentdown.exceptions import ConfigurationError
from agentdown.runtime import Runner
from agentdown.runtime.queues import resolve_account
from agentdown.runtime.triggers import OutputBinding, TriggerHost, TriggerSettings, parse_output
from agentdown.runtime.triggers.bindings import BindingError, PathPattern, render, session_id_for
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import ScriptedModel

CONN = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"


def test_connection_settings_resolve_like_azure_functions(tmp_path: Path) -> None:
    embedded = resolve_account("AzureWebJobsStorage", {"AGENTDOWN_DATA_DIR": str(tmp_path)})
    assert embedded.kind == "embedded" and embedded.data_dir == tmp_path
    assert embedded.blobs_dir == tmp_path / "blobs" and embedded.describe() == f"embedded ({tmp_path})"
    moved = resolve_account("X", {"AGENTDOWN_DATA_DIR": str(tmp_path), "AGENTDOWN_BLOBS_DIR": "/srv/in"})
    assert moved.blobs_dir == Path("/srv/in")
    key = resolve_account("AzureWebJobsStorage", {"AzureWebJobsStorage": CONN})
    assert key.is_azure and key.connection_string == CONN and "AccountKey" not in key.describe()
    # "MyStorage" may also be given as AzureWebJobsMyStorage, as Functions allows.
    assert resolve_account("MyStorage", {"AzureWebJobsMyStorage": CONN}).source == "AzureWebJobsMyStorage"
    dev = resolve_account("AzureWebJobsStorage", {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert dev.is_azure and "Azurite" in dev.describe()
    identity = resolve_account("Store", {"Store__accountName": "acct", "Store__clientId": "cid"})
    assert identity.queue_url == "https://acct.queue.core.windows.net"
    assert identity.blob_url == "https://acct.blob.core.windows.net" and identity.client_id == "cid"
    url = resolve_account("S", {"S": "https://acct.blob.core.windows.net/"})
    assert (url.queue_url, url.blob_url) == (
        "https://acct.queue.core.windows.net",
        "https://acct.blob.core.windows.net",
    )
    only_queue = resolve_account("Q", {"Q__queueServiceUri": "https://acct.queue.core.windows.net"})
    with pytest.raises(ConfigurationError, match="Q__blobServiceUri or Q__accountName"):
        only_queue.require_blob_url()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AzureWebJobsStorage": "nonsense"}, "AzureWebJobsStorage: expected a storage connection string"),
        ({"AzureWebJobsStorage": "https://example.com"}, "AzureWebJobsStorage: expected a service URL"),
        (
            {"AzureWebJobsStorage__queueServiceUri": "acct"},
            "AzureWebJobsStorage__queueServiceUri: expected an https://",
        ),
    ],
)
def test_bad_connection_settings_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace(".", r"\.")):
        resolve_account("AzureWebJobsStorage", environ)


def test_settings_from_the_environment() -> None:
    assert TriggerSettings.from_environ({}) == TriggerSettings()
    custom = TriggerSettings.from_environ(
        {"AGENTDOWN_QUEUE_MAX_DEQUEUE_COUNT": "3", "WEBSITE_TIME_ZONE": "Europe/Paris", "TZ": "EST5EDT"}
    )
    assert custom.max_dequeue_count == 3 and str(custom.time_zone) == "Europe/Paris"
    assert custom.polling_interval("embedded") == 1.0 and custom.polling_interval("azure") == 10.0
    for name, value, message in [
        (
            "AGENTDOWN_TRIGGER_CONCURRENCY",
            "0",
            "AGENTDOWN_TRIGGER_CONCURRENCY: expected a whole number of at least 1",
        ),
        (
            "AGENTDOWN_QUEUE_LEASE_SECONDS",
            "soon",
            "AGENTDOWN_QUEUE_LEASE_SECONDS: expected a number of seconds",
        ),
        ("AGENTDOWN_QUEUE_MESSAGE_ENCODING", "utf8", "expected base64 or none"),
        ("WEBSITE_TIME_ZONE", "Mars/Olympus", "WEBSITE_TIME_ZONE: expected an IANA time zone name"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            TriggerSettings.from_environ({name: value})


def runner_for(tmp_path: Path, trigger: str, environ: dict[str, str] | None = None) -> Runner:
    app = make_app(tmp_path, {"worker": agent_file(trigger)})
    return Runner(
        load_app(app, model=ScriptedModel([]), environ=environ), SqliteSessionStore(tmp_path / "s.db")
    )


def test_the_host_rejects_what_the_loader_cannot_know(tmp_path: Path) -> None:
    # (An impossible schedule is the loader's error now: tests/app/test_app_output_binding.py.)
    unset = runner_for(
        tmp_path / "b", "  type: queue_trigger\n  args:\n    queue_name: '%QUEUE%'\n", environ={}
    )
    with pytest.raises(ConfigurationError, match=r"queue_name: '%QUEUE%' holds an unset variable"):
        TriggerHost(unset, environ={})
    with pytest.raises(ConfigurationError, match="concurrency: expected a whole number of at least 1"):
        TriggerHost(unset, environ={}, concurrency=0)


async def test_a_host_without_event_triggers_runs_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path, {"chat": "---\nname: C\ndescription: d\nbuiltin_endpoints: true\n---\nHi.\n"})
    runner = Runner(load_app(app, model=ScriptedModel([])), SqliteSessionStore(tmp_path / "s.db"))
    host = TriggerHost(runner, environ={"AGENTDOWN_DATA_DIR": str(tmp_path)})
    assert host.triggers == ()
    async with host:
        assert host.running
    assert not host.running
    await host.stop()  # idempotent
    with pytest.raises(RuntimeError, match="a host starts once"):
        await host.start()


def test_check_reports_bad_trigger_arguments_as_errors(tmp_path: Path) -> None:
    app = make_app(tmp_path, {"worker": agent_file("  type: queue_trigger\n  args:\n    queue: orders\n")})
    catalog, problems = check_app(app, environ={"OPENAI_API_KEY": "k"})
    assert catalog is None
    assert [p.severity for p in problems] == ["error", "error"]
    assert "unknown key 'queue' in queue_trigger arguments" in str(problems[0])


def test_output_bindings_parse_and_say_what_is_wrong() -> None:
    queue = parse_output({"type": "queue_output", "args": {"queue_name": "answers"}})
    assert queue == OutputBinding("queue_output", queue_name="answers")
    blob = parse_output({"type": "blob_output", "path": "results/{name}.md", "connection": "Other"})
    assert (blob.container, blob.name_template, blob.connection) == ("results", "{name}.md", "Other")
    for raw, message in [
        ("answers", "output: expected a mapping"),
        ({"type": "http_output"}, "output.type: expected queue_output or blob_output"),
        ({"type": "queue_output", "args": {}}, "output.args.queue_name: required"),
        (
            {"type": "queue_output", "args": {"queue_name": "Bad_Q"}},
            "output.args.queue_name: invalid queue name",
        ),
        ({"type": "blob_output", "args": {"path": "results"}}, "output.args.path: invalid blob path"),
        ({"type": "blob_output", "args": {"path": "r/x", "mode": "a"}}, "output.args.mode: unknown key"),
        ({"type": "queue_output", "queue_name": "a", "args": {}}, "not both"),
    ]:
        with pytest.raises(BindingError, match=message):
            parse_output(raw)


def test_binding_expressions_and_session_keys() -> None:
    data = {"id": "m1", "body_json": {"customer": {"id": 7}, "region": "eu"}, "past_due": False}
    assert render("{id}/{body_json.customer.id}/{region}/{past_due}", data) == "m1/7/eu/false"
    assert render("{{literal}} {name}", data, {"name": "a.txt"}) == "{literal} a.txt"
    assert len(render("{rand-guid}", data)) == 36 and render("{DateTime}", data).endswith("Z")
    with pytest.raises(BindingError, match=r"\{missing\} has no text value"):
        render("{missing}", data)
    assert session_id_for("customer {body_json.customer.id}/{region}", data) == "customer_7_eu"
    with pytest.raises(BindingError, match="empty session id"):
        session_id_for("", data)


def test_blob_path_patterns() -> None:
    pattern = PathPattern("uploads/in/{name}.{ext}")
    assert pattern.container == "uploads" and pattern.prefix == "in/"
    assert pattern.match("in/deep/report.final.txt") == {"name": "deep/report.final", "ext": "txt"}
    assert pattern.match("out/report.txt") is None
    assert PathPattern("c-1/{name}").match("any/thing") == {"name": "any/thing"}
    with pytest.raises(ValueError, match="invalid blob container name"):
        PathPattern("Bad_Container/{name}")
