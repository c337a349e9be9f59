"""``local_code_interpreter``: ``execute_python`` backed by local sandboxes (the default)."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

from agentdown.messages import Content
from agentdown.tools.system.code_interpreter.launch import WORKDIR, namespaces_available
from agentdown.tools.system.code_interpreter.limits import SandboxLimits
from agentdown.tools.system.code_interpreter.pool import SandboxesBusy, SandboxPool
from agentdown.tools.system.code_interpreter.sandbox import Execution, Sandbox, SandboxError
from agentdown.tools.system.code_interpreter.tool import PythonToolBase, error_result

__all__ = ["LocalCodeInterpreter", "local_code_interpreter"]

logger = logging.getLogger("agentdown.tools.code_interpreter")

_PACKAGES = ("numpy", "pandas", "matplotlib", "scipy", "sklearn", "PIL", "sympy", "openpyxl", "pypdf")


def _installed() -> list[str]:
    # find_spec without importing: the sandbox runs this very interpreter's packages.
    return [name for name in _PACKAGES if importlib.util.find_spec(name) is not None]


def _description(limits: SandboxLimits, namespaces: bool) -> str:
    where = f"the current directory ({WORKDIR})" if namespaces else "the current directory"
    packages = ", ".join(_installed()) or "the standard library only"
    network = "There is no network access." if namespaces else ""
    return (
        "Execute Python code in a persistent sandboxed interpreter, like a Jupyter cell. "
        "Returns JSON with result, stdout and stderr.\n"
        "\n"
        "Only use this tool when you need to actually run code (computation, data processing, "
        "charts, files). Do NOT call it just to print text or show results you already have.\n"
        "\n"
        "Key behaviors:\n"
        f"- State persists across calls in this conversation: variables, imports, and files in {where}.\n"
        "- The value of the last expression is returned in 'result'; use print() for 'stdout'.\n"
        "- Top-level await works. Shell commands: subprocess.run().\n"
        f"- Packages available: {packages}. {network}\n"
        "- Charts: matplotlib figures left open (or shown with plt.show()) and image files the "
        "code writes (.png, .jpg, .gif, .svg) come back to you as images; no need to print base64.\n"
        f"- Limits: {limits.wall_seconds:g} s per call, {limits.memory_bytes // 2**20} MiB of memory, "
        f"{limits.max_file_bytes // 2**20} MiB per file. Past a limit the call is stopped and the "
        "interpreter restarts: variables are lost, files are kept. After "
        f"{limits.idle_seconds / 60:g} idle minutes the interpreter is restarted the same way."
    )


def format_execution(execution: Execution) -> str | list[Content]:
    """What the model reads: the JSON text, then the images."""
    text = json.dumps(execution.to_dict(), ensure_ascii=False)
    if not execution.images:
        return text
    return [Content.from_text(text), *execution.images]


class LocalCodeInterpreter(PythonToolBase):
    """``execute_python`` running code in a local sandbox per session (see :func:`local_code_interpreter`)."""

    def __init__(self, root: Path, limits: SandboxLimits) -> None:
        namespaces = limits.isolation == "namespaces"
        if namespaces and not namespaces_available():
            raise SandboxError(
                "the local code interpreter needs Linux user namespaces (util-linux `unshare`), which this "
                "machine does not allow; pass SandboxLimits(isolation='rlimits') to run code under rlimits "
                "only, which neither hides the host's files nor blocks the network (trusted code only)"
            )
        if not namespaces:
            logger.warning(
                "code interpreter: isolation='rlimits': code runs without namespaces (host files readable, "
                "network open); use it for trusted code only"
            )
        super().__init__(
            _description(limits, namespaces),
            {"backend": "local", "isolation": "namespaces" if namespaces else "rlimits"},
        )
        self.pool = SandboxPool(root, limits)

    def sandbox(self, session_id: str) -> Sandbox:
        """The sandbox ``execute_python`` uses for session ``session_id`` (for the Agents API:
        ``put_file`` its input files, collect what the code wrote)."""
        return self.pool.sandbox("session:" + session_id)

    async def execute(self, code: str, key: str, ephemeral: bool) -> str | list[Content]:
        try:
            execution = await self.pool.run(key, code, ephemeral=ephemeral)
        except (SandboxesBusy, SandboxError) as exc:
            logger.warning("code interpreter: %s", exc)
            return error_result(str(exc))
        return format_execution(execution)

    async def aclose(self) -> None:
        """Kill every sandbox's interpreter."""
        await self.pool.aclose()


def local_code_interpreter(root: Path, *, limits: SandboxLimits | None = None) -> LocalCodeInterpreter:
    """The ``execute_python`` tool on local sandboxes, one directory per session under ``root``.

    ``root`` should be the app's data directory's ``sandboxes/`` (never the app folder):
    each session gets ``root/<hash of its key>``, its working directory. Close the tool
    with ``await tool.aclose()`` to kill every interpreter.
    """
    return LocalCodeInterpreter(Path(root), limits or SandboxLimits())
