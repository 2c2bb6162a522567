"""Cost of the training-health collector, and of Grad-CAM per sample, on LeNet-5.

1. LeNet-5 trains on mnist-sample (batch 64, Adam, 3 epochs of 71 steps; the first epoch is a
   warm-up and is not counted) with and without `HealthCollector(every=50)`, interleaved, 3 pairs;
   throughput counts only the training steps (each epoch_end carries train_seconds). Target:
   the collector costs ≤ 5 % (ratio with / without ≥ 0.95, median of the pairs).
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


def throughput(data, health: bool) -> float:
    seconds, samples = [], []
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(load_graph(preset_path("lenet5")), {"epochs": EPOCHS, "batch_size": BATCH, "lr": 1e-3},
                    lambda e: e["type"] == "epoch_end" and seconds.append(e["train_seconds"]),
                    runs_base=tmp, data=data, extensions=[HealthCollector(every=50)] if health else [])
        t.run()
        samples = len(data.train)
    return samples * (EPOCHS - 1) / sum(seconds[1:])


def main() -> None:
    data = load_dataset("mnist-sample")
    ratios = []
    for _ in range(3):
        off = throughput(data, False)
        on = throughput(data, True)
        ratios.append(on / off)
        print(f"  without {off:8.0f} samples/s   with health every 50 steps {on:8.0f} samples/s   ratio {on / off:.3f}")
    print(f"health collector: throughput ratio (with / without) median {statistics.median(ratios):.3f} "
          f"(target ≥ 0.95)")
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
