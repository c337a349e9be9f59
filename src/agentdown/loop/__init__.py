"""The run loop: model call -> tool calls -> model call ... -> final answer.

``engine`` runs it (one async generator of events serves ``run`` and ``run_stream``);
``config`` holds the tool-loop limits, ``events`` the stream events, run steps and the
result, ``structured`` the response formats, ``state`` what a paused run resumes from.
:class:`agentdown.Agent` is the way in; nothing is re-exported here, so importing one
module of the loop does not load the others.
"""
