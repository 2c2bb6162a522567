"""Why only the training thread may run torch with more than one intra-op thread (runtime/threads.py).

libgomp, which torch's CPU ops run on, counts every OpenMP worker thread in the process. Once there
are more than cores, its workers stop spinning between parallel regions and sleep at once, so each of
a training step's many small parallel ops waits for its workers to wake. A team that another thread
made once and left idle (the window, a background job) is enough.

Each case is a fresh process training LeNet-5 steps (batch 64, Adam) in a thread of its own at two
intra-op threads, as the app trains, after the main thread did some torch work of its own:
  * shared default: the main thread's torch work ran at torch's default count (every core): it left a
    team of workers, idle from then on, as the window did before runtime/threads.use_threads;
  * one thread elsewhere: the main thread ran at one thread (OMP_NUM_THREADS=1, as app/launch.py
    starts the app; use_threads keeps that default for every thread but the training one).
Cases alternate; the ratio is of medians.
Run: .venv/bin/python bench/thread_teams.py [--rounds N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

from _child import child_result

CHILD = r"""
import json, threading, time
import torch
from layerloom.graph import load_graph
from layerloom.graph.compiler import compile_graph
from layerloom.presets import preset_path
from layerloom.runtime.threads import use_threads

a = torch.randn(512, 512)
(a @ a).relu_()                                  # the main thread's own torch work (the window's)
torch.randn(64, 6, 24, 24).relu()
seen = {}

def train():
    use_threads(2)
    torch.manual_seed(0)
    model = compile_graph(load_graph(preset_path("lenet5")))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for _ in range(20):
        step()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(40):
            step()
        times.append((time.perf_counter() - t) / 40)
    seen["step_ms"] = min(times) * 1000

t = threading.Thread(target=train)
t.start()
t.join()
print("RESULT " + json.dumps(seen))
"""


def run(one_thread_elsewhere: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "LAYERLOOM_THREADS")}
    if one_thread_elsewhere:
        env["OMP_NUM_THREADS"] = "1"
    return child_result([sys.executable, "-c", CHILD], "the training child", env)["step_ms"]


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    print(f"LeNet-5 training steps at 2 intra-op threads in a thread of their own ({os.cpu_count()} cores)")
    shared, single = [], []
    for r in range(args.rounds):
        shared.append(run(False))
        single.append(run(True))
        print(f"round {r + 1}: shared default {shared[-1]:.2f} ms a step, one thread elsewhere {single[-1]:.2f} ms")
    s, o = statistics.median(shared), statistics.median(single)
    print(f"median: shared default {s:.2f} ms, one thread elsewhere {o:.2f} ms: {s / o:.2f}x faster "
          "when no other thread keeps a team")


if __name__ == "__main__":
    main()
