"""The local code interpreter's cold start and per-call overhead, beside a plain subprocess.

Rows, in milliseconds (p50 / p95 over the rounds):

* ``cold start``: the first call of a new session (``print(1)``): a new directory, the
  worker started in its namespaces and rlimits, the call itself;
* ``call after the first``: ``print(1)`` in a session whose interpreter is running:
  the per-call overhead (target: at most 50 ms);
* ``baseline: python -c print(1)``: ``subprocess.run`` of this interpreter, the cost a
  one-process-per-call design would pay on every call, measured in the same run.

Usage: python bench/code_interpreter.py [--rounds 20] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentdown.tools.system.code_interpreter import Sandbox, SandboxLimits

TARGET_MS = 50.0


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{name:<34} {statistics.median(ms):>9.1f} {_pct(ms, 0.95):>9.1f} {len(ms):>6}"


def baseline(rounds: int) -> list[float]:
    """``python -c print(1)`` in a new process: what every call would cost without a kept worker."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "print(1)"], check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return samples


async def sandbox_samples(rounds: int, calls: int) -> tuple[list[float], list[float], str]:
    cold: list[float] = []
    warm: list[float] = []
    isolation = "?"
    with tempfile.TemporaryDirectory(prefix="agentdown-bench-") as tmp:
        for i in range(rounds):
            sandbox = Sandbox(Path(tmp) / f"s{i}", SandboxLimits())
            try:
                start = time.perf_counter()
                first = await sandbox.run("print(1)")
                cold.append(time.perf_counter() - start)
                assert first.stdout == "1\n", first
                isolation = sandbox.isolation or "?"
                for _ in range(max(1, calls // rounds)):
                    start = time.perf_counter()
                    execution = await sandbox.run("print(1)")
                    warm.append(time.perf_counter() - start)
                    assert execution.stdout == "1\n", execution
            finally:
                await sandbox.close()
    return cold, warm, isolation


def main(rounds: int, calls: int) -> int:
    base = baseline(rounds)
    cold, warm, isolation = asyncio.run(sandbox_samples(rounds, calls))
    print(f"local code interpreter ({isolation}), Python {sys.version.split()[0]}")
    print(f"{'':<34} {'p50 ms':>9} {'p95 ms':>9} {'n':>6}")
    print(_row("cold start (first call)", cold))
    print(_row("call after the first", warm))
    print(_row("baseline: python -c print(1)", base))
    p50 = statistics.median(warm) * 1000
    verdict = "ok" if p50 <= TARGET_MS else "OVER TARGET"
    print(f"per-call overhead p50 {p50:.1f} ms, target <= {TARGET_MS:.0f} ms: {verdict}")
    return 0 if p50 <= TARGET_MS else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    sys.exit(main(args.rounds, args.calls))
