"""Workflow ids carry their session's prefix; other sessions' ids are not theirs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from agentdown.workflows.planned import PlanPolicy, parse_start_workflow, start
from agentdown.workflows.planned.ownership import new_workflow_id, session_owns_workflow, session_prefix
from agentdown.workflows.planned.status import list_envelopes


def test_ids_have_the_other_runtimes_shape_and_prefix() -> None:
    wid = new_workflow_id("session-1")
    prefix, _, rest = wid.partition("-")
    assert prefix == hashlib.sha256(b"session-1").hexdigest()[:12] and len(rest) == 32
    assert session_owns_workflow("session-1", wid)
    assert not session_owns_workflow("session-2", wid)
    assert new_workflow_id("session-1") != wid


def test_malformed_or_foreign_ids_are_never_owned() -> None:
    for bad in (
        "",
        "x",
        session_prefix("s") + "-",
        session_prefix("s") + "-" + "g" * 32,
        session_prefix("s") + "-" + "a" * 33,
    ):
        assert not session_owns_workflow("s", bad)
    assert not session_owns_workflow("", new_workflow_id(""))


def test_a_secret_makes_the_prefix_unguessable() -> None:
    wid = new_workflow_id("s", secret=b"k1")
    assert session_owns_workflow("s", wid, secret=b"k1")
    assert not session_owns_workflow("s", wid, secret=b"k2")
    assert not session_owns_workflow("s", wid)


def test_list_envelopes_are_newest_first_and_capped() -> None:
    plan = parse_start_workflow({"tasks": [{"id": "a", "tool": "t"}]}, PlanPolicy(frozenset({"t"})))
    t0 = datetime(2026, 7, 24, tzinfo=UTC)
    states = [start(plan, t0 + timedelta(seconds=i), workflow_id=f"w{i}")[0] for i in range(30)]
    listed = list_envelopes(states)
    assert len(listed) == 25 and listed[0]["workflow_id"] == "w29" and listed[-1]["workflow_id"] == "w5"
