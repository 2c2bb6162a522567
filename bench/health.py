"""Cost of the training-health collector, and of Grad-CAM per sample, on LeNet-5.

1. LeNet-5 trains on mnist-sample (batch 64, Adam, 3 epochs of 71 steps) with
   `HealthCollector(every=50)`; every call into the collector is timed inside the same run, so the
   figure does not depend on how busy the machine was between two runs. Ratio = (training time −
   collector time) / training time: the throughput with the collector relative to without.
   Target: ≥ 0.95 (the collector costs ≤ 5 %). For reference, runs without and with the collector
   are also timed side by side (interleaved, 3 pairs; on a shared machine these swing widely).
2. Grad-CAM on conv2 of the same LeNet-5 for one sample at a time, median over 50 samples.
   Target: under 50 ms a sample.
Run: .venv/bin/python bench/health.py
"""
from __future__ import annotations

import statistics
import tempfile
import time

import torch

from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.data import load_dataset
from layerloom.runtime.explain import grad_cam
from layerloom.runtime.health import HealthCollector
from layerloom.runtime.trainer import Trainer

EPOCHS, BATCH = 3, 64


class Timed(HealthCollector):
    """The collector with a stopwatch around each of its hooks."""

    seconds = 0.0

    def _timed(name):
        def hook(self, *args):
            t0 = time.perf_counter()
            try:
                return getattr(HealthCollector, name)(self, *args)
            finally:
                self.seconds += time.perf_counter() - t0
        return hook
    loss, after_backward, after_step = _timed("loss"), _timed("after_backward"), _timed("after_step")


def train(data, collector=None) -> tuple[float, float]:
    """(samples per second over the training steps, seconds of those steps)."""
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(load_graph(preset_path("lenet5")), {"epochs": EPOCHS, "batch_size": BATCH, "lr": 1e-3},
                    lambda e: e["type"] == "epoch_end" and seconds.append(e["train_seconds"]),
                    runs_base=tmp, data=data, extensions=[collector] if collector else [])
        t.run()
    return len(data.train) * EPOCHS / sum(seconds), sum(seconds)


def main() -> None:
    data = load_dataset("mnist-sample")
    train(data)                                                  # warm-up
    for _ in range(2):
        timed = Timed(every=50)
        _, total = train(data, timed)
        print(f"  one run: {total:.2f} s of training steps, {timed.seconds * 1e3:.0f} ms of it in the collector "
              f"({len(timed.rows) // max(1, len(timed.nodes))} samples)")
        print(f"health collector (every 50 steps), ratio in one run: {(total - timed.seconds) / total:.3f} "
              "(target ≥ 0.95)")
    ratios = []
    for _ in range(3):
        off, _ = train(data)
        on, _ = train(data, HealthCollector(every=50))
        ratios.append(on / off)
        print(f"  side by side: without {off:6.0f} samples/s, with {on:6.0f} samples/s, ratio {on / off:.3f}")
    print(f"side by side (noisy on a shared machine): median ratio {statistics.median(ratios):.3f}")
    doc = load_graph(preset_path("lenet5"))
    model = compile_graph(doc, analyze(doc), seed=0).eval()
    xs, _ = data.val.batch(torch.arange(60))
    for x in xs[:10].split(1):                                  # warm-up
        grad_cam(model, x, 0, "conv2")
    times = []
    for x in xs[10:].split(1):
        t0 = time.perf_counter()
        grad_cam(model, x, 0, "conv2")
        times.append(time.perf_counter() - t0)
    print(f"Grad-CAM on LeNet-5 conv2: median {statistics.median(times) * 1e3:.1f} ms a sample (target < 50 ms)")


if __name__ == "__main__":
    main()
