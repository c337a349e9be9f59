"""Import time of agentdown against aiohttp alone, each in a fresh interpreter.

Every sample is a new ``python`` process (nothing cached in ``sys.modules``) that
times its own import statement with ``perf_counter``, so interpreter start-up is left
out; the process's whole wall time is reported beside it. The statements are run in
interleaved rounds (one of each per round) so a passing load on the machine spreads
over all of them, and the medians are printed.

``import agentdown`` loads only the package (names are imported on first use); the
other agentdown rows show what a program pays once it uses the API, so a regression
hidden behind the lazy package shows up there.

Usage: python bench/import_time.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

STATEMENTS = {
    "import aiohttp": "import aiohttp",
    "import agentdown": "import agentdown",
    "from agentdown import Agent, tool": "from agentdown import Agent, tool",
    "Agent + OpenAIChatModel": "from agentdown import Agent, OpenAIChatModel, tool",
}
TARGET = 1.3
"""``import agentdown`` may take at most this multiple of ``import aiohttp``."""

PROBE = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"


def sample(statement: str) -> tuple[float, float] | None:
    """Milliseconds: the import inside a fresh interpreter, and that interpreter's whole run.

    ``None`` when the statement fails (an older agentdown without that name, when this
    script is pointed at it to compare).
    """
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE.format(statement)], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return float(done.stdout) * 1000, (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    # Warm the OS file cache; leave out what this agentdown cannot import.
    statements = {name: s for name, s in STATEMENTS.items() if sample(s) is not None}
    imports: dict[str, list[float]] = {name: [] for name in statements}
    walls: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(args.rounds):
        for name, statement in statements.items():
            measured = sample(statement)
            if measured is not None:
                imports[name].append(measured[0])
                walls[name].append(measured[1])
    floor = statistics.median(imports["import aiohttp"])
    print(f"fresh interpreters, median of {args.rounds} interleaved rounds")
    print(f"{'statement':<36} {'import ms':>10} {'process ms':>11} {'vs aiohttp':>11}")
    for name in STATEMENTS:
        if name not in statements:
            print(f"{name:<36} {'fails':>10}")
            continue
        med = statistics.median(imports[name])
        print(f"{name:<36} {med:>10.1f} {statistics.median(walls[name]):>11.1f} {med / floor:>10.2f}x")
    ratio = statistics.median(imports["import agentdown"]) / floor
    print()
    print(f"import agentdown / import aiohttp = {ratio:.2f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
