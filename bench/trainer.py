"""Throughput of the Trainer (background thread, thread count measured) vs the best hand-written loop.

Both train the same compiled LeNet-5 on mnist-sample (batch 64, Adam, 4 epochs of 63 steps, data
batched by indexing); the first epoch of each is a warm-up and is not counted (the Trainer's
thread measuring happens in it). The Trainer's figure counts only its training steps (each
epoch_end carries train_seconds; validation and checkpoints are excluded). The hand loop runs at
every candidate thread count, and the best of them is the bar.
Two conditions: quiet, and with a competing CPU-bound process that this script starts (and ends).
Runs are interleaved and the median of 3 is taken, since single runs on a small machine are noisy.
Each hand loop runs in a process of its own, started as a script is from a shell; the Trainer runs
in this process, started as the app starts (OMP_NUM_THREADS=1 unless set: runtime/threads.py says
why). A hand loop in this process's main thread would leave its OpenMP team there, idle, and that
team throttles the Trainer thread's workers (libgomp stops spinning them once it manages more
threads than cores): the Trainer then measures two threads as slow and rightly picks one.
Goal: Trainer / best hand loop >= 0.95 in both conditions.
Run: .venv/bin/python bench/trainer.py [--repeats N] [--epochs N]   (defaults 3 and 4)
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from _child import child_result

HAND_ENV = dict(os.environ)                      # a hand-written loop, run from a shell
if "--hand" not in sys.argv:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the app starts (app/launch.py), before torch loads

import torch  # noqa: E402

from layerloom.graph import compile_graph, load_graph  # noqa: E402
from layerloom.presets import preset_path  # noqa: E402
from layerloom.runtime.data import load_dataset  # noqa: E402
from layerloom.runtime.threads import candidate_counts  # noqa: E402
from layerloom.runtime.trainer import Trainer  # noqa: E402

EPOCHS, BATCH, REPEATS = 4, 64, 3


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


def hand_loop_process(n_threads: int) -> float:
    """`hand_loop` in a fresh process (this script with --hand N), its samples/s."""
    cmd = [sys.executable, __file__, "--hand", str(n_threads), "--epochs", str(EPOCHS)]
    return child_result(cmd, f"the hand loop at {n_threads} thread(s)", HAND_ENV, timeout=1800)


def trainer_in_thread(data) -> tuple[float, list[int]]:
    seconds, chosen = [], []

    def listen(e):
        if e["type"] == "epoch_end":
            seconds.append(e["train_seconds"])
        elif e["type"] == "threads":
            chosen.append(e["threads"])

    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(load_graph(preset_path("lenet5")), {"epochs": EPOCHS, "batch_size": BATCH, "lr": 1e-3},
                    listen, runs_base=tmp, data=data)
        worker = threading.Thread(target=t.run)
        worker.start()
        worker.join()
    return len(data.train) * (EPOCHS - 1) / sum(seconds[1:]), chosen


def measure(data, counts) -> dict:
    results = {"trainer": [], **{f"hand_{n}": [] for n in counts}}
    choices = []
    for _ in range(REPEATS):
        rate, chosen = trainer_in_thread(data)
        results["trainer"].append(rate)
        choices.append(chosen)
        for n in counts:
            results[f"hand_{n}"].append(hand_loop_process(n))
    med = {k: statistics.median(v) for k, v in results.items()}
    return med, choices


def report(title, med, choices, counts):
    best_n = max(counts, key=lambda n: med[f"hand_{n}"])
    print(title)
    for n in counts:
        print(f"  hand loop, own process, {n} thread(s): {med[f'hand_{n}']:8.0f} samples/s")
    print(f"  Trainer in a background thread:     {med['trainer']:8.0f} samples/s "
          f"(thread choices per run: {choices})")
    print(f"  ratio Trainer / best hand loop ({best_n} thread(s)): {med['trainer'] / med[f'hand_{best_n}']:.3f}")


def main():
    global EPOCHS, REPEATS
    args = sys.argv[1:]
    for flag in ("--repeats", "--epochs"):
        if flag in args:
            value = int(args[args.index(flag) + 1])
            if flag == "--repeats":
                REPEATS = max(1, value)
            else:
                EPOCHS = max(2, value)
    data = load_dataset("mnist-sample")
    if "--hand" in args:                  # a child: one hand loop, after a warm-up epoch in it
        print("RESULT " + json.dumps(hand_loop(data, int(args[args.index("--hand") + 1]))))
        return
    counts = candidate_counts()
    print(f"LeNet-5 on mnist-sample, batch {BATCH}, {EPOCHS - 1} timed epochs after a warm-up one, "
          f"median of {REPEATS} interleaved runs; thread counts tried: {counts}")
    med, choices = measure(data, counts)
    report("quiet (no process started by this bench):", med, choices, counts)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        med, choices = measure(data, counts)
    finally:
        busy.terminate()
        busy.wait(timeout=10)
    report("with a competing CPU-bound process:", med, choices, counts)


if __name__ == "__main__":
    main()
