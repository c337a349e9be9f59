"""Azure Functions scaffolds: ``agentdown init APP --queue-function NAME`` and ``--azure-functions``.

``--queue-function NAME``: an Azure Functions app answering a queue tool.

The pattern of the Azure AI Agent Service documentation: a ``queue_trigger`` on the
tool's input queue, a ``queue_output`` binding on its output queue, the reply
``{"Value", "CorrelationId"}``. The host base64-encodes what the binding writes and
decodes what the trigger reads (``host.json``), which is what agentdown and the
Agent Service send and accept.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "AZURE_FUNCTIONS_FILES",
    "function_files",
    "queue_names",
    "scaffold_azure_functions",
    "scaffold_function",
]

FUNCTION_APP = '''\
"""{name}: a queue-bound function tool (Azure Functions, Python v2 programming model).

A call arrives on {input_queue} as one JSON object: the model's arguments plus
"CorrelationId". The answer goes to {output_queue} as {{"Value": ..., "CorrelationId": ...}}
with the same id. Errors become a Value the model can read, so no call goes unanswered.
"""

import inspect
import json
import logging

import azure.functions as func

app = func.FunctionApp()


def {func_name}(**arguments):
    """Replace with the tool's work; its keyword arguments are the tool's parameters."""
    return {{"echo": arguments}}


@app.function_name(name="{name}")
@app.queue_trigger(arg_name="msg", queue_name="{input_queue}", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="reply", queue_name="{output_queue}", connection="AzureWebJobsStorage")
def {handler}(msg: func.QueueMessage, reply: func.Out[str]) -> None:
    payload = json.loads(msg.get_body().decode("utf-8"))
    correlation_id = payload.pop("CorrelationId")
    try:
        inspect.signature({func_name}).bind(**payload)
        value = {func_name}(**payload)
    except TypeError as exc:
        value = f"Error: invalid arguments for {name}: {{exc}}"
    except Exception as exc:  # the model reads it and decides what to do
        logging.exception("{name} failed")
        value = f"Error: {name} failed: {{type(exc).__name__}}: {{exc}}"
    reply.set(json.dumps({{"Value": value, "CorrelationId": correlation_id}}))
'''

HOST_JSON = """\
{
  "version": "2.0",
  "extensionBundle": {
    "id": "Microsoft.Azure.Functions.ExtensionBundle",
    "version": "[4.*, 5.0.0)"
  },
  "extensions": {
    "queues": {
      "messageEncoding": "base64",
      "maxDequeueCount": 5
    }
  }
}
"""

REQUIREMENTS = "azure-functions\n"


def queue_names(name: str) -> tuple[str, str]:
    """``(input, output)`` queue names for tool ``name``: ``getweather-input`` / ``getweather-output``."""
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", name.lower())).strip("-")[:48] or "tool"
    if len(base) < 3:
        base = f"{base}-tool"
    return f"{base}-input", f"{base}-output"


def function_files(name: str) -> dict[str, str]:
    input_queue, output_queue = queue_names(name)
    snake = re.sub(r"[^a-z0-9_]", "_", re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()).strip("_") or "tool"
    if snake[0].isdigit():
        snake = f"fn_{snake}"
    app = FUNCTION_APP.format(
        name=name,
        func_name=snake,
        handler=f"{snake}_queue",
        input_queue=input_queue,
        output_queue=output_queue,
    )
    return {"function_app.py": app, "host.json": HOST_JSON, "requirements.txt": REQUIREMENTS}


def declaration(name: str) -> str:
    """The ``queue_tools`` entry an agent needs to call the function."""
    input_queue, output_queue = queue_names(name)
    return (
        "queue_tools:\n"
        f"  - name: {name}\n"
        f"    description: What {name} does.\n"
        "    parameters: {type: object, properties: {}}\n"
        f"    input_queue: {input_queue}\n"
        f"    output_queue: {output_queue}\n"
    )


def scaffold_function(folder: Path, name: str, *, force: bool = False) -> list[Path]:
    """Write ``function_app.py``, ``host.json`` and ``requirements.txt`` into ``folder``."""
    files = function_files(name)
    targets = [folder / rel for rel in files]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(map(str, existing))} already exist(s); pass --force to overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in zip(targets, files.values(), strict=True):
        path.write_text(text, encoding="utf-8")
    return targets


# --- ``agentdown init APP --azure-functions``: the app folder deploys as an Azure Functions app.

APP_FUNCTION_APP = '''\
"""The Azure Functions entry point: every agent of this folder, registered by agentdown.

Run locally with `func start` (Azure Functions Core Tools, Azurite for AzureWebJobsStorage);
the same folder runs without Functions as `agentdown serve .`.
"""

from agentdown.hosting import create_function_app

app = create_function_app()
'''

APP_HOST_JSON = """\
{
  "version": "2.0",
  "logging": {
    "logLevel": {
      "default": "Information"
    }
  },
  "extensionBundle": {
    "id": "Microsoft.Azure.Functions.ExtensionBundle",
    "version": "[4.*, 5.0.0)"
  },
  "extensions": {
    "http": {
      "routePrefix": ""
    }
  }
}
"""

# agentdown[functions] brings azurefunctions-extensions-http-fastapi: chatstream streams.
APP_REQUIREMENTS = "azure-functions\nagentdown[functions,azure]\n"

LOCAL_SETTINGS = """\
{
  "IsEncrypted": false,
  "Values": {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "PYTHON_ENABLE_INIT_INDEXING": "1"
  }
}
"""

FUNCIGNORE = """\
.git*
.venv
.vscode
__pycache__
*.pyc
local.settings.json
tests
"""

AZURE_FUNCTIONS_FILES = {
    "function_app.py": APP_FUNCTION_APP,
    "host.json": APP_HOST_JSON,
    "requirements.txt": APP_REQUIREMENTS,
    "local.settings.json": LOCAL_SETTINGS,
    ".funcignore": FUNCIGNORE,
}


def scaffold_azure_functions(folder: Path, *, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Write the Azure Functions files that ``folder`` lacks; ``(written, kept)``.

    Existing files are kept unless ``force``: on an app that already deploys, only what is
    missing is added (an app of the Azure Functions agents runtime keeps its own files; its
    ``function_app.py`` then needs only its import changed to ``agentdown.hosting``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    kept: list[Path] = []
    for rel, text in AZURE_FUNCTIONS_FILES.items():
        path = folder / rel
        if path.exists() and not force:
            kept.append(path)
            continue
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written, kept
