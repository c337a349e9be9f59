"""The ``agentdown`` command line.

Each command group lives in its own module and registers itself on ``main.app``
when imported here.
"""

from agentdown.cli import (
    app_commands,
    approve_commands,
    index_commands,
    model_commands,
    serve_commands,
    session_commands,
    worker_commands,
    workflow_commands,
)
from agentdown.cli.main import app

__all__ = [
    "app",
    "app_commands",
    "approve_commands",
    "index_commands",
    "model_commands",
    "serve_commands",
    "session_commands",
    "worker_commands",
    "workflow_commands",
]
