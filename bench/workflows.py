"""The workflow engine's cost per step, in-process and durable, each beside its baseline.

Runs ``bench/workflows_inprocess.py`` (a chain of supersteps and a 1,000-node fan-out /
fan-in against plain awaited calls; target <= 0.2 ms per step) and then
``bench/workflows_durable.py`` (the same shapes as jobs on the embedded queue and SQLite
store, against the in-process engine; target <= 5 ms per step), each in its own
interpreter so neither warms the other.

Usage: python bench/workflows.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    code = 0
    for script in ("workflows_inprocess.py", "workflows_durable.py"):
        print(f"== {script}", flush=True)
        code |= subprocess.call([sys.executable, str(HERE / script)])
    return code


if __name__ == "__main__":
    sys.exit(main())
