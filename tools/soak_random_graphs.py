"""The long run of the random-graph property tests: many more random graphs and mutated graph files than
the test suite's derandomized few, drawn afresh each time (LAYERLOOM_LONG=1).

Run: .venv/bin/python tools/soak_random_graphs.py [more pytest arguments]
Every failure it finds names the graph (or file) it failed on: keep it as a plain regression test.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/graph/test_random_families.py", "tests/graph/test_fileformat_fuzz.py",
         "tests/graph/test_analysis_runs_as_analysed.py", "tests/graph/test_random_blocks_against_torch.py",
         "tests/graph/test_quick_analysis.py"]


def main(argv: list[str]) -> int:
    env = {**os.environ, "LAYERLOOM_LONG": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", *TESTS, *argv]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
