"""``python -m agentdown.cli``: the ``agentdown`` command without the installed script."""

from agentdown.cli import app

app(prog_name="agentdown")
