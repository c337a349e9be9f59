"""`make run` on a fresh machine: says what it does before each long step, installs no test tools,
compiles nothing (a hash-pinned prebuilt binding), pulls the weights beside it; the compiled
binding stays a choice. Checked on make's own dry run of the real Makefile."""

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


def dry_run(tmp_path: Path, target: str, *args: str) -> list[str]:
    """The commands ``make TARGET`` would run with a fresh (empty) venv, recursive makes included."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in PROVIDERS and not k.startswith("MAKE") and k != "AGENTDOWN_LOCAL_BACKEND"
    }
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", f"VENV={tmp_path / 'venv'}", *args, target],
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
        ("-r requirements/local.txt", "installing xllamacpp"),
        ("models pull", "pulling the local model"),
    ]
    for command, message in steps:
        at = first(lines, command)
        said = first(lines, message)
        assert said < at, f"{command!r} runs before make says {message!r}:\n" + "\n".join(lines)
        assert "date +%T" in lines[said]  # with the time, so a log shows how long each step took


def test_make_run_compiles_nothing_and_installs_only_hash_pinned_wheels(tmp_path: Path) -> None:
    lines = dry_run(tmp_path, "run")
    installs = [line for line in lines if "pip install" in line]
    assert not any(".[dev]" in line or "[local" in line for line in installs), installs
    assert not any("CMAKE" in line or "compiling" in line for line in lines)
    binding = lines[first(lines, "-r requirements/local.txt")]
    assert "--require-hashes" in binding and "--only-binary=:all:" in binding and "--no-deps" in binding
    assert "AGENTDOWN_LOCAL_BACKEND=xllamacpp" in lines[first(lines, "quickstart/main.py")]
    pinned = (REPO / "requirements" / "local.txt").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    version = next(line.split(" ")[0] for line in pinned.splitlines() if line.startswith("xllamacpp=="))
    assert f'local = ["{version}"]' in pyproject  # the extra and the pinned install agree
    assert pinned.count("--hash=sha256:") >= 1


def test_the_compiled_binding_stays_a_choice(tmp_path: Path) -> None:
    lines = dry_run(tmp_path, "run", "LOCAL_BACKEND=llama-cpp-python")
    said = first(lines, "compiling llama.cpp")
    assert "5-15 minutes" in lines[said] and "date +%T" in lines[said]
    compile_line = lines[first(lines, ".[local-llama-cpp]") - 1] + lines[first(lines, ".[local-llama-cpp]")]
    assert "-DLLAVA_BUILD=OFF" in compile_line and "-DGGML_NATIVE=OFF" in compile_line
    assert said < first(lines, ".[local-llama-cpp]")
    assert "AGENTDOWN_LOCAL_BACKEND=llama-cpp-python" in lines[first(lines, "quickstart/main.py")]
    assert not any("requirements/local.txt" in line for line in lines)


def test_weights_are_pulled_beside_the_binding_install(tmp_path: Path) -> None:
    lines = dry_run(tmp_path, "run")
    parallel = lines[first(lines, "-j2")]
    assert ".installed-local-xllamacpp" in parallel and "local-weights" in parallel
    # The pull waits for nothing but agentdown itself.
    assert first(lines, "-j2") > first(lines, "pip install --quiet -e .")
