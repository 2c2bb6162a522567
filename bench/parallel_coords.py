"""Redraw time of the Experiment panel's parallel-coordinates plot: 500 trials x 6 axes.

Five swept parameters (two log ranges, a uniform one, an int and a choice) plus the objective;
about a fifth of the trials pruned. One redraw = set_trials() (normalising, grouping, one curve per
style) plus painting the widget (grab() renders it offscreen). Median of 20, after 3 warm-ups,
beside the time of painting alone. Each redraw gets another set of 500 trials, so\nthe axes' ranges and tick texts change as they do while a sweep runs.
Target (issue 16): < 100 ms a redraw.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/parallel_coords.py
"""
from __future__ import annotations

import os
import random
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from layerloom.app.panels.parallel_coords import ParallelCoordinates  # noqa: E402
from layerloom.runtime.sweeps.spec import parse_spec  # noqa: E402

PARAMS = [("training.lr", parse_spec("log:1e-5:1")), ("training.weight_decay", parse_spec("log:1e-6:1e-2")),
          ("blocks.drop1.params.p", parse_spec("uniform:0:0.5")),
          ("blocks.fc1.params.out_features", parse_spec("int:16:256:16")),
          ("training.batch_size", parse_spec("choice:32,64,128,256"))]


def trials(n: int, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        params = {"training.lr": 10 ** rnd.uniform(-5, 0), "training.weight_decay": 10 ** rnd.uniform(-6, -2),
                  "blocks.drop1.params.p": rnd.uniform(0, 0.5), "blocks.fc1.params.out_features": rnd.randrange(16, 257, 16),
                  "training.batch_size": rnd.choice([32, 64, 128, 256])}
        rows.append({"number": i, "state": "pruned" if rnd.random() < 0.2 else "complete", "params": params,
                     "value": rnd.uniform(0.1, 0.99)})
    return rows


def main() -> None:
    app = QApplication.instance() or QApplication([])
    plot = ParallelCoordinates()
    plot.resize(900, 420)
    plot.show()
    sets = [trials(500, seed) for seed in range(4)]     # a different set each redraw: ranges and ticks change
    redraw, paint = [], []
    for i in range(23):
        t0 = time.perf_counter()
        plot.set_trials(sets[i % len(sets)], PARAMS, "val_accuracy", True)
        plot.grab()
        t1 = time.perf_counter()
        plot.grab()
        t2 = time.perf_counter()
        app.processEvents()
        if i >= 3:
            redraw.append(t1 - t0)
            paint.append(t2 - t1)
    print(f"500 trials x {len(plot.axes)} axes: redraw (set_trials + paint) median {statistics.median(redraw) * 1e3:.1f} ms "
          f"(max {max(redraw) * 1e3:.1f}), paint alone {statistics.median(paint) * 1e3:.1f} ms; target < 100 ms; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
