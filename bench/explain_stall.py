"""The Explain panel on a large validation set: how long the GUI thread stands still, in one run.

A 10 ms timer in the GUI thread records its ticks; the longest gap (less the 10 ms) is how long a click
or a key would have waited (as bench/startup.py's "longest stall"). Two cases on the same model and data:
  - in the GUI thread: what the panel used to do there, listing the wrong validation samples and building
    the Block tab (activation histogram and top-9 of a channel over the whole validation set);
  - the panel now: load_run, then waiting, events handled, until the wrong samples and the Block tab are in.
And opening the run itself (Train ▸ Explain Predictions, or a run from the Runs list): building its network,
reading its weights, trying it on one input and drawing its filters and health strip, in the GUI thread (what
load_run used to do) and in the panel's background job (load_run, then waiting until the run is shown).
The model is an untrained graph preset (default LeNet-5) on `shapes` with --val samples (default 10,000);
the data set is loaded and torch warmed up before either case is timed. The machine is shared: noisy.
Run: .venv/bin/python bench/explain_stall.py [--preset lenet5] [--val 10000]
     (--preset resnet18 --val 200: a large network)
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def graph_file(preset: str, val: int, folder: str) -> str:
    from layerloom.presets import preset_path
    doc = json.loads(preset_path(preset).read_text(encoding="utf-8"))
    doc["training"]["dataset"] = "shapes"
    doc["training"]["dataset_options"] = {"train_count": 100, "val_count": val}
    path = os.path.join(folder, f"{preset}-shapes.loom.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return path


def longest_stall(work) -> tuple[float, float]:
    """(longest GUI stall in ms, wall seconds) while `work(done)` runs; it calls done() when finished."""
    ticks, finished = [], []
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    probe.start()
    start = time.perf_counter()
    ticks.append(start)
    QTimer.singleShot(0, lambda: work(lambda: finished.append(time.perf_counter())))
    while not finished:
        QCoreApplication.processEvents()
        time.sleep(0.001)
    ticks.append(time.perf_counter())
    probe.stop()
    return max(b - a for a, b in zip(ticks, ticks[1:])) * 1000 - 10, finished[0] - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lenet5")
    parser.add_argument("--val", type=int, default=10_000)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(["explain-stall"])
    from layerloom.app.panels.explain import WRONG_SHOWN, ExplainPanel, _open_run
    from layerloom.runtime.explain_subject import load_subject
    from layerloom.runtime.learnt import activation_histogram, top_activating
    with tempfile.TemporaryDirectory() as folder:
        path = graph_file(args.preset, args.val, folder)
        subject = load_subject(path)
        subject.sample(0)                                       # the data set generated, torch warm
        panel = ExplainPanel()
        panel.resize(1100, 480)
        panel.show()
        blocks = [panel.block_view.block.itemText(0)] if panel.block_view.block.count() else None

        def in_gui_thread(done):
            subject.wrong_predictions(WRONG_SHOWN)
            block = blocks[0]
            batches = [(idx, x) for idx, _, x, _ in subject.batches(500)]
            activation_histogram(subject.model, batches, block)
            top_activating(subject.model, [(idx, x) for idx, _, x, _ in subject.batches(500)], block, 0)
            done()

        def in_jobs(done):
            panel.load_run(path)
            QTimer.singleShot(0, lambda: wait_then(done))

        def wait_then(done):
            if panel.loading or panel.lists.running or panel.lists.queued or panel.block_view.jobs.running:
                QTimer.singleShot(5, lambda: wait_then(done))
            else:
                done()

        panel.load_run(path)                                     # the panel's own subject, warm
        panel.wait_loaded()
        panel.lists.wait()
        panel.block_view.jobs.wait()
        blocks = [panel.block_view.block.currentText()]
        after, after_s = longest_stall(in_jobs)
        before, before_s = longest_stall(in_gui_thread)

        def open_in_gui_thread(done):
            _open_run(path, threading.Event())
            done()

        def open_in_job(done):
            panel.load_run(path)
            panel.loaded.connect(lambda _shown: done())

        open_after, open_after_s = longest_stall(open_in_job)
        panel.loaded.disconnect()
        open_before, open_before_s = longest_stall(open_in_gui_thread)
        panel.stop_all()
    print(f"{args.preset} on shapes, {args.val:,} validation samples, block {blocks[0]}")
    print(f"  in the GUI thread : longest stall {before:8.0f} ms  (done in {before_s:.1f} s)")
    print(f"  background jobs   : longest stall {after:8.0f} ms  (done in {after_s:.1f} s)")
    print(f"  stall ratio (GUI thread / jobs): {before / max(after, 1):.0f}x")
    print("opening the run (network built, weights read, one input tried, filters and health drawn)")
    print(f"  in the GUI thread : longest stall {open_before:8.0f} ms  (done in {open_before_s:.1f} s)")
    print(f"  background job    : longest stall {open_after:8.0f} ms  (done in {open_after_s:.1f} s)")
    print(f"  stall ratio (GUI thread / job): {open_before / max(open_after, 1):.0f}x")
    app.quit()


if __name__ == "__main__":
    main()
