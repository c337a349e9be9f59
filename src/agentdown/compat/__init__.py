"""Compatibility with tool modules written for the Azure Functions agents runtime.

:mod:`agentdown.compat.tools` holds agentdown's versions of the decorators such modules
import (``azure_functions_agents.tool`` / ``workflow_tool``, ``agent_framework.tool`` /
``FunctionTool``); :mod:`agentdown.compat.packages` makes those imports resolve while an
app's ``tools/`` folder is imported, and only then.
"""
