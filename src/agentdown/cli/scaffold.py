"""``agentdown init``: the files of a new app that works as soon as a model is configured."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FILES", "scaffold"]

AGENT = """\
---
name: Assistant
description: A helpful assistant that can roll dice.
builtin_endpoints: true
---
You are a concise, friendly assistant.

When the user asks for a random roll, use the `roll_dice` tool; never invent its result.
"""

TOOL = '''\
"""An example tool: every @tool function in tools/ is given to the app's agents."""

import random
from typing import Annotated

from agentdown import tool


@tool
def roll_dice(
    sides: Annotated[int, "How many sides each die has"] = 6,
    count: Annotated[int, "How many dice to roll"] = 1,
) -> list[int]:
    """Roll dice and return each result."""
    if not 2 <= sides <= 1000 or not 1 <= count <= 100:
        raise ValueError("use 2-1000 sides and 1-100 dice")
    return [random.randint(1, sides) for _ in range(count)]
'''

CONFIG = """\
# Defaults for every agent of this app; an agent's front matter overrides them.
# Strings may use $VAR or %VAR% to read environment variables.

# model: gpt-4o-mini        # else AGENTDOWN_MODEL / the provider's default
timeout: 300                # seconds one run may take

# tools:
#   exclude: [roll_dice]    # tools no agent gets unless it includes them

# agent_configuration:
#   max_output_tokens: 4096
"""

README = """\
# {name}

An agentdown app: agents written as Markdown.

| Path | What it is |
| --- | --- |
| `main.agent.md` | The agent: YAML front matter (name, description, endpoints...) and its instructions |
| `tools/` | Python tools; every `@tool` function here is given to the agents |
| `agents.config.yaml` | Defaults for every agent (model, timeout, tool filters) |

Add more agents as `*.agent.md` files (here or in `agents/`), skills as
`skills/<name>/SKILL.md` and MCP servers in `mcp.json`.

## Run it

Configure a model provider, e.g. `export OPENAI_API_KEY=...` (or `OPENAI_BASE_URL`
for any OpenAI-compatible server, `AZURE_OPENAI_ENDPOINT` for Azure OpenAI), then:

```sh
agentdown check {path}                  # validate every file, list what the app has
agentdown run {path} "Roll two dice"    # one turn, streamed
agentdown chat {path}                   # an interactive chat that keeps its session
```
"""

FILES = {
    "main.agent.md": AGENT,
    "tools/dice.py": TOOL,
    "agents.config.yaml": CONFIG,
    "README.md": README,
}


def scaffold(app_dir: Path, *, force: bool = False) -> list[Path]:
    """Write the app's files; refuses to touch existing files unless ``force``. Returns what was written."""
    targets = [app_dir / rel for rel in FILES]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise FileExistsError(f"{names} already exist(s); pass --force to overwrite")
    for path, (rel, template) in zip(targets, FILES.items(), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        text = template.format(name=app_dir.resolve().name, path=app_dir) if rel == "README.md" else template
        path.write_text(text, encoding="utf-8")
    return targets
