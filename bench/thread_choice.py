"""How often a run's measured thread count is the faster one, in the first run of fresh processes.

Each process is new, as `layerloom train` starts one. Its first run trains LeNet-5 on mnist-sample
(batch 64, 2 epochs: 125 steps, a short run, where the choice is hardest: cold steps, one round of
visits) and measures its thread count as every run does (runtime/threads.py: ThreadTuner). Then, in the
same process, the run is repeated with each count fixed (the `threads` setting), in the order A B … B A,
which says which count really is faster there and then. The bench prints for each process the trial's
timings, the first choice and the last (a choice steps show to be wrong is timed again), the fixed
counts' samples/s, and then how many first and last choices were the faster count, and the first runs'
throughput against the faster fixed count's (the first run is also the coldest, so this ratio is a floor).
Runs train in the process's main thread, as `layerloom train` does, with OMP_NUM_THREADS=1 as the app
sets it. The machine is shared: the fixed runs show how far apart the counts were in each process.
Run: .venv/bin/python bench/thread_choice.py [--processes N]   (default 8)
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile

from _child import child_result

EPOCHS, BATCH = 2, 64


def _train(data, settings: dict, runs: str) -> tuple[float, list[dict]]:
    """samples/s over the run's training steps, and its `threads` events."""
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.trainer import Trainer
    events = []
    Trainer(load_graph(preset_path("lenet5")), {"batch_size": BATCH, "lr": 1e-3, **settings}, events.append,
            runs_base=runs, data=data).run()
    failed = [e["message"] for e in events if e["type"] == "failed"]
    if failed:
        raise SystemExit(failed[0])
    seconds = [e["train_seconds"] for e in events if e["type"] == "epoch_end"]
    return len(data.train) * len(seconds) / sum(seconds), [e for e in events if e["type"] == "threads"]


def child() -> None:
    from layerloom.runtime.data import load_dataset
    from layerloom.runtime.threads import candidate_counts
    data = load_dataset("mnist-sample")
    with tempfile.TemporaryDirectory() as runs:
        rate, choices = _train(data, {"epochs": EPOCHS}, runs)
        counts = candidate_counts()
        fixed = {n: [] for n in counts}
        for n in counts + counts[::-1]:
            fixed[n].append(_train(data, {"epochs": 1, "threads": n}, runs)[0])
    print("RESULT " + json.dumps({"rate": rate, "choices": [{k: c[k] for k in ("threads", "reason", "step",
                                                                               "timings_ms")} for c in choices],
                                  "fixed": {str(n): statistics.fmean(v) for n, v in fixed.items()}}))


def main() -> None:
    args = sys.argv[1:]
    if "--child" in args:
        child()
        return
    processes = int(args[args.index("--processes") + 1]) if "--processes" in args else 8
    env = {k: v for k, v in os.environ.items() if k != "LAYERLOOM_THREADS"}
    env.setdefault("OMP_NUM_THREADS", "1")
    print(f"LeNet-5 on mnist-sample, batch {BATCH}, {EPOCHS} epochs: the first run of {processes} fresh processes, "
          "then each count fixed in the same process")
    first_right = last_right = 0
    ratios = []
    for i in range(processes):
        r = child_result([sys.executable, __file__, "--child"], f"process {i + 1}", env, timeout=900)
        fixed = {int(n): v for n, v in r["fixed"].items()}
        faster = max(fixed, key=fixed.get)
        choices = r["choices"]
        first = choices[0]["threads"] if choices else None
        last = choices[-1]["threads"] if choices else None
        first_right += first == faster
        last_right += last == faster
        ratios.append(r["rate"] / fixed[faster])
        trial = ", ".join(f"{n}: {ms:.1f} ms" for n, ms in choices[0]["timings_ms"].items()) if choices else "none"
        moves = " -> ".join(f"{c['threads']} ({c['reason']}, step {c['step']})" for c in choices) or "no choice"
        print(f"  process {i + 1}: trial {trial}; chose {moves}; fixed counts "
              + ", ".join(f"{n}: {v:,.0f}" for n, v in sorted(fixed.items())) + " samples/s; "
              f"first run {r['rate']:,.0f} samples/s ({r['rate'] / fixed[faster]:.2f} of the faster count)")
    print(f"first choice was the faster count in {first_right} of {processes} processes; "
          f"last choice in {last_right} of {processes}")
    print(f"first run's throughput against the faster fixed count: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}; the first run is also the coldest)")


if __name__ == "__main__":
    main()
