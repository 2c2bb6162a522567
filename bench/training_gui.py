"""Training in the app vs `layerloom train`: throughput ratio and the GUI thread's event-loop lag.

For each case the same graph, data set and settings train
  * headless: a Trainer in the main thread of a process of its own, as `layerloom train` runs, with no
    GUI and no feature taps, with the extensions `layerloom train` adds by default (health samples,
    TensorBoard files), as the app's runs have (after a warm-up run in that process), and
  * in the app: the real main window (offscreen), training started from the training panel, with
    the live curves, the epoch views and the feature-map view of a selected block open and
    updating (after a warm-up run in that window, as the headless process has one); a 10 ms QTimer
    probe in the GUI thread records how late each tick fires.
Throughput counts training steps only (each epoch_end reports train_seconds, so validation and
checkpoints are excluded on both sides). The lag probe's 100 callbacks a second take the GIL as
well, so throughput comes from app runs without it and lag from app runs with it. Runs
alternate (headless, app, app with probe); the ratio is the median of each app run over the
headless run just before it (a shared machine drifts), with the ratio of medians beside it.
It also prints the GUI thread's CPU time as a share of one core over the throughput runs: on a
machine with few cores that is what the window takes from training.
Targets (issue 5): throughput ratio >= 0.9 (0.95 ideal); GUI lag p99 <= 30 ms.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/training_gui.py [--quick]
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

from _child import child_result

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LAYERLOOM_NO_ERROR_DIALOG"] = "1"
HEADLESS_ENV = dict(os.environ)               # `layerloom train` from a shell
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the app starts (app/launch.py), before torch loads

import numpy as np  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from layerloom.graph import load_graph  # noqa: E402
from layerloom.graph.fileformat import graph_to_dict  # noqa: E402
from layerloom.presets import preset_path  # noqa: E402
from layerloom.runtime.data import load_dataset  # noqa: E402

CASES = {
    "LeNet-5 on mnist-sample": dict(preset="lenet5", follow="conv1", input_shape=None,
                                    config={"dataset": "mnist-sample", "epochs": 4, "batch_size": 64}, repeats=9),
    "AlexNet (3×64×64) on shapes": dict(preset="alexnet", follow="conv2", input_shape=[3, 64, 64],
                                        config={"dataset": "shapes", "epochs": 2, "batch_size": 32,
                                                "dataset_options": {"train_count": 256, "val_count": 64}},
                                        repeats=3),
}


POLL_MS = 100     # how often `wait` looks: each look takes the GIL, which the app's own loop would not


def graph(case):
    doc = load_graph(preset_path(case["preset"]))
    if case["input_shape"]:
        doc.set_param("input", "shape", case["input_shape"])
    return doc


def epoch_throughput(events, n_train) -> float:
    seconds = [e.get("train_seconds", e["seconds"]) for e in events if e["type"] == "epoch_end"]
    return n_train * len(seconds) / sum(seconds)


HEADLESS = r"""
import json, sys
from layerloom.graph.fileformat import graph_from_dict
from layerloom.runtime.data import load_dataset
from layerloom.runtime.health import HealthCollector
from layerloom.runtime.tensorboard_log import TensorBoardLog
from layerloom.runtime.trainer import Trainer
graph, cfg, runs = json.loads(sys.argv[1])
shape = tuple(graph_from_dict(graph).blocks["input"].full_params()["shape"])
bundle = load_dataset(cfg["dataset"], input_shape=shape, seed=0, **cfg.get("dataset_options", {}))
for run in ("warm-up", "measured"):
    events = []
    Trainer(graph_from_dict(graph), cfg, events.append, runs_base=runs, data=bundle,
            extensions=[HealthCollector(), TensorBoardLog()]).run()
print("RESULT " + json.dumps([{k: e[k] for k in ("type", "message", "train_seconds", "seconds", "threads")
                               if k in e} for e in events]))
"""


def threads_chosen(events) -> int | None:
    """The thread count a run chose by measuring (its last choice), or None when it ended before choosing."""
    chosen = [e["threads"] for e in events if e["type"] == "threads"]
    return chosen[-1] if chosen else None


def headless(case, runs) -> tuple[float, int | None]:
    """`layerloom train` as it runs by default, in a process of its own: health samples every 50 steps
    and TensorBoard files, the same extensions the app's runs have (app/training/run_thread.py). Its
    own process, as the command's, so its OpenMP threads share nothing with the window's process."""
    job = [graph_to_dict(graph(case)), case["config"], runs]
    events = child_result([sys.executable, "-c", HEADLESS, json.dumps(job)], "the headless run", HEADLESS_ENV,
                          timeout=1800)
    failed = [e for e in events if e["type"] == "failed"]
    if failed:
        raise SystemExit(failed[0]["message"])
    return epoch_throughput(events, case["train_count"]), threads_chosen(events)


class AppRun:
    """The main window with training installed, reused for every run of a case."""

    def __init__(self, app, case, bundle, runs):
        from layerloom.app.window import MainWindow
        self.app = app
        QSettings().setValue("training/runs_dir", runs)
        self.win = MainWindow(restore_settings=False)
        self.ui = self.win.training
        doc = graph(case)
        doc.training = dict(case["config"])
        self.win.session.set_document(doc)
        self.win.resize(1600, 1000)
        self.win.show()
        self.ui.loader.cache[self._key(case)] = bundle     # the same data as the headless run (loaded once here)
        self.ui.dock.raise_()                              # the training panel in front, as after ▶ Train
        self.wait(lambda: self.ui.ready, 60)
        if not self.ui.ready:
            raise SystemExit(f"the app is not ready to train: {self.ui.problems()}")
        self.win.focus_block(case["follow"])

    def _key(self, case):
        from layerloom.app.training.data_loader import request_key
        cfg = case["config"]
        return request_key(cfg["dataset"], cfg.get("dataset_options", {}), tuple(graph(case).blocks["input"]
                                                                                 .full_params()["shape"]), 0)

    def wait(self, cond, timeout):
        """Run the real event loop (as app.exec() would) until cond() holds."""
        if cond():
            return
        loop = QEventLoop()
        end = time.monotonic() + timeout
        poll = QTimer()
        poll.setInterval(POLL_MS)
        poll.timeout.connect(lambda: (cond() or time.monotonic() > end) and loop.quit())
        poll.start()
        loop.exec()
        poll.stop()

    def run(self, n_train, probe_ms: int | None = 10):
        """One run from the panel's Start; with probe_ms, a QTimer probe records the GUI thread's lag
        (its own callbacks take the GIL too, so throughput is measured in runs without it)."""
        events, ticks = [], []
        self.ui.training.event.connect(events.append)
        probe = QTimer()
        probe.setInterval(probe_ms or 10)
        probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
        done = []
        self.ui.training.running_changed.connect(lambda r: r or done.append(1))
        cpu, wall = time.thread_time(), time.perf_counter()     # the GUI thread's CPU time over the run
        assert self.ui.start()
        self.wait(lambda: any(e["type"] == "started" for e in events), 60)
        if probe_ms:
            probe.start()
        self.wait(lambda: done, 600)
        gui_share = (time.thread_time() - cpu) / (time.perf_counter() - wall)
        probe.stop()
        self.ui.training.event.disconnect(events.append)
        failed = [e for e in events if e["type"] == "failed"]
        if failed:
            raise SystemExit(failed[0]["message"])
        maps = sum(e["type"] == "feature_maps" for e in events)
        lag = (np.diff(ticks) * 1000 - 10) if len(ticks) > 2 else np.zeros(1)
        return epoch_throughput(events, n_train), lag, maps, gui_share, threads_chosen(events)

    def close(self):
        self.ui.shutdown()
        self.win.session.undo_stack.setClean()
        self.win.close()
        self.win.deleteLater()
        self.app.processEvents()


def bench_app() -> tuple[QApplication, str]:
    """The application, with its settings (and the runs folder they name) in a temporary folder of its
    own: the person's settings and runs stay untouched. The caller removes the folder."""
    app = QApplication.instance() or QApplication([])
    QCoreApplication.setOrganizationName("LayerloomBench")
    QCoreApplication.setApplicationName("LayerloomBench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    tmp = tempfile.mkdtemp()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    return app, tmp


def median_interval(values, rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A 95 % bootstrap interval of the median of `values` (the pairs resampled with replacement): how far the
    median of this many noisy pairs can be trusted."""
    values = np.asarray(values, dtype=float)
    draws = np.random.default_rng(seed).choice(values, size=(rounds, len(values)), replace=True)
    low, high = np.percentile(np.median(draws, axis=1), [2.5, 97.5])
    return float(low), float(high)


def interval_text(ratios) -> str:
    """The bootstrap interval in words; with fewer than 5 pairs it would be little more than their range."""
    if len(ratios) < 5:
        return f"{len(ratios)} pair{'s' if len(ratios) != 1 else ''}: too few for an interval"
    low, high = median_interval(ratios)
    return f"95 % bootstrap interval {low:.3f}-{high:.3f} over {len(ratios)} pairs"


def main() -> None:
    quick = "--quick" in sys.argv
    app, tmp = bench_app()
    print("Training in the app (live curves + feature maps) vs headless Trainer (`layerloom train`)")
    for name, case in CASES.items():
        cfg = case["config"]
        shape = tuple(graph(case).blocks["input"].full_params()["shape"])
        bundle = load_dataset(cfg["dataset"], input_shape=shape, seed=0, **cfg.get("dataset_options", {}))
        case = dict(case, train_count=len(bundle.train))
        runs = os.path.join(tmp, "runs")
        gui = AppRun(app, case, bundle, runs)
        gui.run(len(bundle.train), probe_ms=None)     # the warm-up run: first calls, as in the headless process
        repeats = 1 if quick else case["repeats"]
        head, inapp, probed, lags, maps, shares, chosen = [], [], [], [], 0, [], ([], [])
        for _ in range(repeats):
            shutil.rmtree(runs, ignore_errors=True)   # AlexNet checkpoints are ~0.7 GB each: keep the disk free
            h, n = headless(case, runs)
            head.append(h)
            chosen[0].append(n)
            t, _, m, share, n = gui.run(len(bundle.train), probe_ms=None)   # throughput: nothing else on the GUI thread
            inapp.append(t)
            shares.append(share)
            chosen[1].append(n)
            t, lag, m2, _, _ = gui.run(len(bundle.train), probe_ms=10)      # lag: a 10 ms probe timer as well
            probed.append(t)
            lags.append(lag)
            maps += m + m2
        gui.close()
        shutil.rmtree(runs, ignore_errors=True)
        lag = np.concatenate(lags)
        h, a = statistics.median(head), statistics.median(inapp)
        # Each app run against the headless run just before it: slow drifts of a shared machine cancel.
        paired = statistics.median(x / y for x, y in zip(inapp, head))
        print(f"\n{name}: batch {cfg['batch_size']}, {cfg['epochs']} epochs of {len(bundle.train):,} samples, "
              f"median of {repeats}")
        print(f"  headless Trainer (own process): {h:9.0f} samples/s   {[round(x) for x in head]}")
        p = statistics.median(probed)
        print(f"  in the app, GUI live          : {a:9.0f} samples/s   {[round(x) for x in inapp]}"
              f"  ({maps} feature-map updates in all runs)")
        print(f"  throughput ratio app/headless : {paired:.3f}   (median of paired runs, "
              f"{interval_text([x / y for x, y in zip(inapp, head)])}; ratio of medians {a / h:.3f}; "
              "target >= 0.9, ideal 0.95)")
        print(f"  threads chosen by measuring   : headless {chosen[0]}, in the app {chosen[1]} (None: the run "
              "ended before choosing)")
        print(f"  GUI thread's CPU time         : {statistics.median(shares):.0%} of a core over a run "
              f"(median; {os.cpu_count()} cores): what the window takes from training")
        print(f"  GUI event-loop lag            : p50 {np.percentile(lag, 50):.1f} ms, p99 "
              f"{np.percentile(lag, 99):.1f} ms, max {lag.max():.0f} ms over {len(lag)} ticks   (target p99 <= 30 ms)")
        print(f"    (runs with the 100 Hz probe: {p:.0f} samples/s, ratio {p / h:.3f}: the probe's own callbacks "
              "take the GIL too)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
