"""Telemetry's cost, side by side: the main checkout, this tree with telemetry off, and on.

Runs bench/overhead.py (agentdown and the aiohttp floor only) in fresh processes, rounds
interleaved (main, off, sdk, main, off, sdk, ...) so a passing load on the machine hits
every variant alike, and reports the median of each figure per variant:

  main  PYTHONPATH=<main checkout>/src   (no telemetry code at all)
  off   PYTHONPATH=<this tree>/src       (telemetry present, nothing configured)
  sdk   PYTHONPATH=<this tree>/src --telemetry sdk (SDK providers, spans and metrics made)

Usage: python bench/telemetry_overhead.py [--main /work/main] [--rounds 3] [--turns 200]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent

_SEQ = re.compile(r"^agentdown\s+([\d.]+)\s+([\d.]+)", re.M)
_CONC = re.compile(r"^agentdown\s+([\d.]+)\s+([\d.]+)\s+[\d.]+%", re.M)


def run(src: Path, telemetry: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """(sequential median ms, turns/s, CPU ms/turn) of one overhead.py process."""
    cmd = [sys.executable, str(HERE / "overhead.py"), "--only", "agentdown", "--turns", str(args.turns)]
    cmd += ["--seconds", str(args.seconds), "--rounds", "1"]
    if telemetry == "sdk":
        cmd += ["--telemetry", "sdk"]
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    seq, conc = _SEQ.search(out), _CONC.search(out)
    assert seq is not None and conc is not None, out
    return float(seq.group(1)), float(conc.group(1)), float(conc.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--main",
        type=Path,
        default=Path("/work/main"),
        help="the baseline: a checkout (or git archive of a commit) whose src/ has no telemetry",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    variants = {
        "main": (args.main / "src", "off"),
        "off": (TREE / "src", "off"),
        "sdk": (TREE / "src", "sdk"),
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for i in range(args.rounds):
        for name, (src, telemetry) in variants.items():
            results[name].append(run(src, telemetry, args))
            print(f"round {i + 1} {name}: {results[name][-1]}", file=sys.stderr)
    med = {name: tuple(statistics.median(r[k] for r in rs) for k in range(3)) for name, rs in results.items()}
    base = med["main"]
    print(f"median of {args.rounds} interleaved rounds; one-tool turns against the loopback fake server")
    print(f"{'variant':<8} {'seq ms':>8} {'turns/s':>9} {'CPU ms/turn':>12} {'CPU vs main':>12}")
    for name, (seq, tps, cpu) in med.items():
        print(f"{name:<8} {seq:>8.2f} {tps:>9.1f} {cpu:>12.3f} {cpu / base[2] - 1:>+11.1%}")


if __name__ == "__main__":
    main()
