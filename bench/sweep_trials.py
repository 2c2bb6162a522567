"""Sweep trials forked from one interpreter that imported PyTorch once, against a new interpreter per trial.

Each sweep is `layerloom sweep` in a process of its own, as a user runs it: LeNet-5 on mnist-sample, a grid
of TRIALS learning rates, one worker, each trial training STEPS steps (a small trial, where starting the
process is most of its time). The forked sweep pays for its fork server's start once, before its first trial's process runs (the start
shows in the sweep's time, not in that trial's). The two kinds alternate, REPEATS times each; the medians
are compared: the whole sweep's wall time and a trial's seconds (from its process's start to its end,
results.json's `seconds`).
Seen here (2 cores, quiet): 6 trials of 20 steps, sweep 10.4 s forked against 34.8 s (ratio 0.30), a trial
0.49 s against 5.17 s.
Run: .venv/bin/python bench/sweep_trials.py   (LAYERLOOM_BENCH_TRIALS, _STEPS, _REPEATS to change)
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from layerloom.graph import load_graph, save_graph
from layerloom.presets import preset_path

TRIALS = int(os.environ.get("LAYERLOOM_BENCH_TRIALS", "6"))
STEPS = int(os.environ.get("LAYERLOOM_BENCH_STEPS", "20"))
REPEATS = int(os.environ.get("LAYERLOOM_BENCH_REPEATS", "2"))

RUN = """import sys
from layerloom.runtime.sweeps import forked
forked.FORK = {fork!r}
from layerloom.app.main import main
sys.exit(main({args!r}))
"""


def sweep(base: Path, graph: Path, fork: bool, tag: str) -> tuple[float, list[float]]:
    args = ["sweep", str(graph), "--name", tag, "--workers", "1", "--out", str(base)]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN.format(fork=fork, args=args)], capture_output=True,
                          text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{done.stderr[-2000:]}")
    rows = json.loads((base / tag / "results.json").read_text(encoding="utf-8"))
    if [r["state"] for r in rows] != ["complete"] * TRIALS:
        raise SystemExit(f"not every trial completed: {[r['state'] for r in rows]}")
    return seconds, [r["seconds"] for r in rows]


def main() -> None:
    rates = ",".join(f"{0.001 * (i + 1):g}" for i in range(TRIALS))
    print(f"LeNet-5, {TRIALS} trials of {STEPS} steps, one worker; {REPEATS} sweeps of each kind, alternating")
    walls = {True: [], False: []}
    trials = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        doc = load_graph(preset_path("lenet5"))
        doc.training = {**doc.training, "max_steps": STEPS, "epochs": 1}
        doc.sweep = {"params": {"training.lr": f"choice:{rates}"}, "strategy": "grid", "pruning": False}
        graph = base / "lenet5.loom.json"
        save_graph(doc, graph)
        for r in range(REPEATS):
            for fork in (True, False):
                seconds, each = sweep(base, graph, fork, f"{'forked' if fork else 'new'}-{r}")
                walls[fork].append(seconds)
                trials[fork].extend(each)
                print(f"  repeat {r + 1}, {'forked trials' if fork else 'new interpreters'}: sweep {seconds:5.1f} s, "
                      f"trials {', '.join(f'{s:.1f}' for s in each)} s")
    wall = {k: statistics.median(v) for k, v in walls.items()}
    trial = {k: statistics.median(v) for k, v in trials.items()}
    print(f"sweep: forked {wall[True]:.1f} s, new interpreters {wall[False]:.1f} s: ratio {wall[True] / wall[False]:.2f}")
    print(f"a trial (median): forked {trial[True]:.2f} s, new interpreter {trial[False]:.2f} s: "
          f"ratio {trial[True] / trial[False]:.2f}; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
