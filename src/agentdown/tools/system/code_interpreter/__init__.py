"""The code interpreter system tool: ``execute_python`` on a local sandbox or ACA dynamic sessions.

``local_code_interpreter(root)`` (the default) runs code in a sandbox per session on this
machine; ``dynamic_sessions_code_interpreter(endpoint)`` in an Azure Container Apps
dynamic sessions pool, as the Azure Functions agents runtime does. Both give the model
the same tool (``execute_python(code)``). :class:`Sandbox` is the lower-level API the
Agents API uses to put files in a session's directory and collect what the code wrote.
"""

from agentdown.tools.system.code_interpreter.dynamic_sessions import (
    DynamicSessionsCodeInterpreter,
    dynamic_sessions_code_interpreter,
)
from agentdown.tools.system.code_interpreter.limits import Isolation, SandboxLimits
from agentdown.tools.system.code_interpreter.local import LocalCodeInterpreter, local_code_interpreter
from agentdown.tools.system.code_interpreter.pool import SandboxesBusy, SandboxPool
from agentdown.tools.system.code_interpreter.sandbox import Execution, Sandbox, SandboxError
from agentdown.tools.system.code_interpreter.tool import TOOL_NAME

__all__ = [
    "TOOL_NAME",
    "DynamicSessionsCodeInterpreter",
    "Execution",
    "Isolation",
    "LocalCodeInterpreter",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "SandboxPool",
    "SandboxesBusy",
    "dynamic_sessions_code_interpreter",
    "local_code_interpreter",
]
