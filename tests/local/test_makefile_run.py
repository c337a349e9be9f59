"""`make run` on a fresh machine: says what it does before each long step, installs no test tools,
pulls the weights while llama.cpp compiles. Checked on make's own dry run of the real Makefile."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = (
    "AGENTDOWN_PROVIDER",
    "AZURE_FUNCTIONS_AGENTS_PROVIDER",
    "AZURE_OPENAI_ENDPOINT",
    "FOUNDRY_PROJECT_ENDPOINT",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def dry_run(tmp_path: Path, target: str) -> list[str]:
    """The commands ``make TARGET`` would run with a fresh (empty) venv, recursive makes included."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDERS and not k.startswith("MAKE")}
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", f"VENV={tmp_path / 'venv'}", target],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def first(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines) if needle in line)


def test_fresh_make_run_announces_each_long_step(tmp_path: Path) -> None:
    lines = dry_run(tmp_path, "run")
    steps = [
        ("-m venv", "creating"),
        ("pip install --quiet -e .", "installing agentdown"),
        (".[local]", "compiling llama.cpp"),
        ("models pull", "pulling the local model"),
    ]
    for command, message in steps:
        at = first(lines, command)
        said = first(lines, message)
        assert said < at, f"{command!r} runs before make says {message!r}:\n" + "\n".join(lines)
        assert "date +%T" in lines[said]  # with the time, so a log shows how long each step took
    assert "5-15 minutes" in lines[first(lines, "compiling llama.cpp")]


def test_make_run_installs_no_test_tools_and_compiles_no_multimodal_library(tmp_path: Path) -> None:
    lines = dry_run(tmp_path, "run")
    installs = [line for line in lines if "pip install" in line]
    assert not any(".[dev]" in line for line in installs), installs
    compile_line = lines[first(lines, ".[local]") - 1] + lines[first(lines, ".[local]")]
    assert "-DLLAVA_BUILD=OFF" in compile_line and "-DGGML_NATIVE=OFF" in compile_line


def test_weights_are_pulled_while_llama_cpp_compiles(tmp_path: Path) -> None:
    lines = dry_run(tmp_path, "run")
    parallel = lines[first(lines, "-j2")]
    assert ".installed-local" in parallel and "local-weights" in parallel
    # The pull waits for nothing but agentdown itself.
    assert first(lines, "-j2") > first(lines, "pip install --quiet -e .")
