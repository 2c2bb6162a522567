"""Peak training memory: the estimate (fake tensors, no compute) against a real run, side by side.

For each preset: the estimate's peak, a real two-step training run's peak tracked by PyTorch's
MemTracker (real tensors, real kernels), their ratio, and the seconds each took.
ResNet-18 at batch 32 x 224 x 224 is slow to train for real: add --long to include it.
Run: .venv/bin/python bench/memory.py [--long]
"""
from __future__ import annotations

import sys
import time

import torch
from torch.distributed._tools.mem_tracker import MemTracker

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.memory import estimate_training_memory, training_steps


def real_peak(doc, batch_size):
    model = compile_graph(doc, seed=0)
    shape = doc.blocks["input"].full_params()["shape"]
    x, y = torch.rand(batch_size, *shape), torch.randint(0, 10, (batch_size,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tracker = MemTracker()
    tracker.track_external(model, opt, x, y)
    training_steps(model, opt, x, y, tracker)
    return next(iter(tracker.get_tracker_snapshot("peak").values()))["Total"]


def main():
    cases = [("lenet5", 32), ("mlp", 32), ("seq_mnist_lstm", 32)]
    if "--long" in sys.argv:
        cases.append(("resnet18", 32))
    estimate_training_memory(load_graph(preset_path("mlp")), 2)     # warm-up: imports
    print(f"{'preset':16} {'batch':>5} {'estimate MiB':>13} {'real MiB':>10} {'ratio':>7} {'est s':>7} {'real s':>7}")
    for name, batch in cases:
        doc = load_graph(preset_path(name))
        t = time.perf_counter()
        est = estimate_training_memory(doc, batch, "adam", "cpu")
        te = time.perf_counter() - t
        t = time.perf_counter()
        peak = real_peak(doc, batch)
        tr = time.perf_counter() - t
        print(f"{name:16} {batch:5d} {est.peak_bytes / 2**20:13.2f} {peak / 2**20:10.2f} "
              f"{est.peak_bytes / peak:7.4f} {te:7.2f} {tr:7.2f}")


if __name__ == "__main__":
    main()
