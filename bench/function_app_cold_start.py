"""Cold start of an app on Azure Functions: ``import function_app`` + indexing, 20 agents.

A generated app of 20 agents (12 chat agents with every built-in endpoint, 4 timer,
2 queue, 1 blob and 1 HTTP-trigger agents; 73 functions with agentdown's ``/v1``, Agents API, runs, ingest and sweep ones) and its ``function_app.py``
(``app = create_function_app()``). Each sample is a fresh ``python`` process that
imports ``function_app`` and calls ``app.get_functions()`` (what the Python worker does
when the host indexes an app), timed inside the process from before the import to after
indexing; the baseline is the same process importing ``azure.functions`` alone. Prints
the medians of ``--runs`` samples. Target: at most 1.0 s on the development machine.

``--compare SRC`` also times another checkout's ``src`` (say the main branch's) on the
same app, its samples interleaved with these, so both see the same machine load.

Usage: python bench/function_app_cold_start.py [--runs 9] [--agents 20] [--compare ../main/src]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ENTRY = "from agentdown.hosting import create_function_app\n\napp = create_function_app()\n"
PROBE = """\
import time
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""
INDEX = "import function_app\nfunctions = function_app.app.get_functions()\nassert len(functions) == {count}"
OTHER = "import function_app\nfunctions = function_app.app.get_functions()"
BASELINE = "import azure.functions"


def _agent(index: int) -> tuple[str, str, int]:
    """``(file name, text, functions)`` of agent ``index``."""
    head = f"name: Agent {index}\ndescription: Agent number {index}.\n"
    if index < 12:
        return f"chat_{index}.agent.md", f"---\n{head}builtin_endpoints: true\n---\nHelp.\n", 5
    if index < 16:
        trigger = 'trigger: {type: timer_trigger, args: {schedule: "0 */5 * * * *"}}\n'
    elif index < 18:
        trigger = f"trigger: {{type: queue_trigger, args: {{queue_name: work-{index}}}}}\n"
    elif index < 19:
        trigger = "trigger: {type: blob_trigger, args: {path: 'uploads/{name}'}}\n"
    else:
        trigger = "trigger: {type: http_trigger, args: {route: summarize}}\n"
    return f"worker_{index}.agent.md", f"---\n{head}{trigger}---\nWork.\n", 1


def make_app(folder: Path, agents: int) -> int:
    """Write the app; the number of functions it registers."""
    count = 0
    for index in range(agents):
        name, text, functions = _agent(index)
        (folder / name).write_text(text, encoding="utf-8")
        count += functions
    (folder / "function_app.py").write_text(ENTRY, encoding="utf-8")
    # agentdown_openai_v1, agentdown_agents_api, its runs and ingest queue functions, the sweep
    return count + 5


def sample(folder: Path, body: str, env: dict[str, str]) -> float:
    script = PROBE.format(body=body)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the probe failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout's src folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentdown-coldstart-") as tmp:
        folder = Path(tmp)
        count = make_app(folder, args.agents)
        src = str(Path(__file__).resolve().parents[1] / "src")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(folder), src]),
            "AzureWebJobsScriptRoot": str(folder),
            "OPENAI_API_KEY": "bench",
            "AGENTDOWN_MODEL": "bench-model",
            "PYTHONDONTWRITEBYTECODE": "",
        }
        other_env = None
        if args.compare is not None:
            other_env = {**env, "PYTHONPATH": os.pathsep.join([str(folder), str(args.compare.resolve())])}
            sample(folder, OTHER, other_env)
        sample(folder, INDEX.format(count=count), env)  # compile the bytecode caches once
        baseline: list[float] = []
        indexed: list[float] = []
        other: list[float] = []
        for _ in range(args.runs):
            baseline.append(sample(folder, BASELINE, env))
            indexed.append(sample(folder, INDEX.format(count=count), env))
            if other_env is not None:
                other.append(sample(folder, OTHER, other_env))
    result: dict[str, object] = {
        "agents": args.agents,
        "functions": count,
        "runs": args.runs,
        "import_azure_functions_s": round(statistics.median(baseline), 3),
        "import_function_app_and_index_s": round(statistics.median(indexed), 3),
        "agentdown_share_s": round(statistics.median(indexed) - statistics.median(baseline), 3),
        "target_s": 1.0,
    }
    if other:
        result["compared_src"] = str(args.compare)
        result["compared_import_function_app_and_index_s"] = round(statistics.median(other), 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
