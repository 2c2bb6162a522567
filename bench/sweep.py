"""A sweep's parallelism: 4 trials on 2 workers against the same 4 trials one after another.

Both sweeps train LeNet-5 on mnist-sample for EPOCHS epochs per trial, over the same 4 learning
rates (a grid), each trial its own `layerloom train` process as `layerloom sweep` runs them; threads
per trial follow the product's rule (workers x threads <= cores). The two sweeps alternate, REPEATS
times each, and the medians are compared. Process start-up (importing torch, the first analysis)
is part of every trial, as it is for a user.
Target (issue 16): parallel / sequential wall time <= 0.65.
Run: .venv/bin/python bench/sweep.py      (LAYERLOOM_BENCH_EPOCHS, LAYERLOOM_BENCH_REPEATS to change)
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from layerloom.graph import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.sweeps.coordinator import SweepRunner, trial_threads
from layerloom.runtime.sweeps.spec import parse_section
from layerloom.runtime.sweeps.study import create_study, open_storage

EPOCHS = int(os.environ.get("LAYERLOOM_BENCH_EPOCHS", "2"))
REPEATS = int(os.environ.get("LAYERLOOM_BENCH_REPEATS", "2"))
SECTION = {"params": {"training.lr": "choice:0.001,0.002,0.003,0.004"}, "strategy": "grid", "pruning": False,
           "epochs": EPOCHS}


def sweep(base: Path, workers: int, tag: str) -> tuple[float, list]:
    doc = load_graph(preset_path("lenet5"))
    spec = parse_section(doc, {**SECTION, "name": tag, "workers": workers})
    folder = base / tag
    study = create_study(doc, spec, open_storage(None, folder))
    t0 = time.perf_counter()
    rows = SweepRunner(study, doc, spec, folder).run()
    return time.perf_counter() - t0, rows


def main() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    def threads(workers):
        n, measure = trial_threads(workers)
        return f"up to {n} threads (measured)" if measure else f"{n} threads"
    print(f"{cores} cores; sequential: 1 worker x {threads(1)}, "
          f"parallel: 2 workers x {threads(2)}; LeNet-5, {EPOCHS} epochs a trial, 4 trials")
    seq, par = [], []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for r in range(REPEATS):
            for workers, times in ((1, seq), (2, par)):
                seconds, rows = sweep(base, workers, f"w{workers}-{r}")
                states = sorted(row["state"] for row in rows)
                accs = ", ".join(f"{row['value']:.3f}" for row in rows if row["value"] is not None)
                print(f"  repeat {r + 1}, {workers} worker(s): {seconds:6.1f} s  states {states}  val acc {accs}")
                times.append(seconds)
    s, p = statistics.median(seq), statistics.median(par)
    print(f"sequential {s:.1f} s, 2 workers {p:.1f} s: ratio {p / s:.2f} (target <= 0.65); "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
