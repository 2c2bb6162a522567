"""Throughput of the Trainer in a background thread vs a hand-written loop in the main thread.

Both train the same compiled LeNet-5 on mnist-sample (batch 64, Adam, 4 epochs of 63 steps, data
batched by indexing); the first epoch of each is a warm-up and is not counted. The Trainer's figure counts only its training steps (each epoch_end carries
train_seconds, the time spent stepping; validation and checkpoints are excluded). The hand loop runs twice:
with torch's default thread count and with the Trainer's choice. Runs are interleaved and the
median of 3 is taken, since other processes on a small machine make single runs noisy.
Target (issue 3): Trainer / hand loop ≥ 0.95.
Run: .venv/bin/python bench/trainer.py
"""
from __future__ import annotations

import statistics
import tempfile
import threading
import time

import torch

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime import threads
from layerloom.runtime.data import load_dataset
from layerloom.runtime.trainer import Trainer

EPOCHS, BATCH = 4, 64
DEFAULT_THREADS = torch.get_num_threads()


def hand_loop(data, n_threads: int) -> float:
    torch.set_num_threads(n_threads)
    model = compile_graph(load_graph(preset_path("lenet5")), seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    mean, std = data.info.mean[0], data.info.std[0]
    gen = torch.Generator().manual_seed(0)
    n = len(data.train)
    samples, t0 = 0, time.perf_counter()
    for epoch in range(EPOCHS):
        if epoch == 1:
            samples, t0 = 0, time.perf_counter()      # epoch 0 was the warm-up
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            x, y = data.train.batch(perm[i:i + BATCH])
            x = (x - mean) / std
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            samples += len(y)
    return samples / (time.perf_counter() - t0)


def trainer_in_thread(data) -> float:
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(load_graph(preset_path("lenet5")),
                    {"epochs": EPOCHS, "batch_size": BATCH, "lr": 1e-3},
                    lambda e: e["type"] == "epoch_end" and seconds.append(e["train_seconds"]),
                    runs_base=tmp, data=data)
        worker = threading.Thread(target=t.run)
        worker.start()
        worker.join()
    return len(data.train) * (EPOCHS - 1) / sum(seconds[1:])


def main():
    data = load_dataset("mnist-sample")
    chosen = threads.default_threads()
    results = {"trainer": [], "hand_default": [], "hand_same": []}
    hand_loop(data, chosen)   # warm-up
    for _ in range(3):
        results["trainer"].append(trainer_in_thread(data))
        results["hand_default"].append(hand_loop(data, DEFAULT_THREADS))
        results["hand_same"].append(hand_loop(data, chosen))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"LeNet-5 on mnist-sample, batch {BATCH}, {EPOCHS - 1} timed epochs after a warm-up one, "
          "median of 3 interleaved runs")
    print(f"  Trainer in a background thread ({chosen} thread): {med['trainer']:8.0f} samples/s")
    print(f"  hand loop, main thread, torch default ({DEFAULT_THREADS} threads): {med['hand_default']:8.0f} samples/s")
    print(f"  hand loop, main thread, {chosen} thread: {med['hand_same']:8.0f} samples/s")
    print(f"  ratio trainer / hand (default threads): {med['trainer'] / med['hand_default']:.2f}")
    print(f"  ratio trainer / hand (same threads):    {med['trainer'] / med['hand_same']:.2f}")


if __name__ == "__main__":
    main()
