"""The system-prompt addendum of a workflow-enabled agent: when to plan, and what a plan may use.

The tool and sub-agent lists sit under the headings the other runtime uses
(``### Available workflow tools`` / ``### Available workflow Sub Agents``), because
``start_workflow``'s schema points the model at them by those names. The prose is
agentdown's own.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["workflow_addendum"]

_WHEN = (
    "## Long-running work: workflows\n\n"
    "You can plan work as a workflow with `start_workflow` (and follow it with `get_workflow_status`, "
    "`list_workflows`, `cancel_workflow`, `terminate_workflow`). Prefer a workflow when the work takes "
    "longer than one turn, has independent steps worth running in parallel, has to wait, or must survive "
    "a pause in the conversation; for short work that fits in one turn, call tools directly. When a plan "
    "gathers more than one piece of evidence, end it with a small summary (or delivery) task rather than "
    "returning raw data."
)
_CHAT = (
    "`start_workflow` returns a `workflow_id` at once and the workflow runs in the background: tell the "
    "user it is under way (with the id) and end your turn; do not call `get_workflow_status` to wait. "
    "When it ends you receive a message with `<workflow-notification>` envelopes (a `<workflow-id>`, a "
    "`<status>`, a `<summary>`): call `get_workflow_status` once per id and summarise the result briefly, "
    "without starting new work; if there is no usable output, say so. Otherwise look workflows up only "
    "when the user asks. To stop one, prefer `cancel_workflow` (keeps partial results) over "
    "`terminate_workflow`."
)
_TRIGGER = (
    "This run came from a trigger: after `start_workflow` returns, keep or report the `workflow_id` as "
    "the response format allows and end the run; do not wait for the workflow. Nothing brings its result "
    "back to you, so a workflow started by a non-HTTP trigger should end with a tool task that delivers "
    "the result (a queue, a table, a webhook, a notification)."
)
_EXTENSIONS = (
    "A task may also have: `when` (a condition such as `${check.result.count} > 0 and "
    "${check.result.env} == 'prod'`; false skips the task, and references into a skipped task are null), "
    "`for_each` (a reference to an upstream list; the task runs once per element, named `${item}`, and "
    "its result is the list of results; `max_parallelism` limits how many run at once), `retry` "
    "(`{max_attempts, first_interval, backoff_coefficient, max_interval}`), `timeout` (ISO-8601, per "
    "attempt) and `continue_on_error` (a final failure leaves the result null instead of failing the "
    "workflow)."
)


def workflow_addendum(
    tools: Mapping[str, str],
    subagents: Mapping[str, str] | None = None,
    *,
    trigger: bool = False,
    extensions: bool = True,
) -> str:
    """The addendum for an agent whose plans may use ``tools`` and ``subagents`` (name → description / when)."""
    parts = [_WHEN, _TRIGGER if trigger else _CHAT]
    if extensions:
        parts.append(_EXTENSIONS)
    if tools:
        parts.append(
            "### Available workflow tools\n\n" + "\n".join(f"- `{n}` — {tools[n]}" for n in sorted(tools))
        )
    else:
        parts.append(
            "### Available workflow tools\n\n_No tool tasks are allowed for this agent: plans can only wait._"
        )
    if subagents:
        lines = "\n".join(f"- `{slug}` — {when}" for slug, when in subagents.items())
        parts.append(
            "### Available workflow Sub Agents\n\n"
            + lines
            + '\n\nUse `type: "sub_agent"` with `agent` and a self-contained `task`; it returns `{agent, text}`, '
            "so downstream tasks reference `${node_id.result.text}`."
        )
    else:
        parts.append("### Available workflow Sub Agents\n\n_No Sub Agent tasks are allowed for this agent._")
    return "\n\n" + "\n\n".join(parts)
