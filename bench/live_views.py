"""What the live views of a run cost the GUI thread, without training's noise.

bench/training_gui.py measures training in the window, but on a machine with few cores its figures
move with everything else that runs. Here a LeNet-5 run's events are recorded once from a real
Trainer (feature taps on conv1 every 0.5 s, as the window asks), then replayed into the real main
window at the times they were recorded, with no training thread: the run controller, the curves,
the feature maps, the epoch results, the health strip and the status bar all do what they do during
a run. The bench prints the GUI thread's CPU time as a share of one core over the replayed run, for
the window as it is and with the plain Fusion style (without the wheel guard its style adds,
app/wheel_guard.py), in alternating runs, and, for the window as it is, how many frames redrew
views, how often the epoch results were redrawn and how often the main window laid itself out.
The counts hardly move from one machine to the next; the CPU shares move with the machine.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/live_views.py [--quick]
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import time

import training_gui as tg
from _counting import EventCounter

from PySide6.QtCore import QEvent, QTimer

from layerloom.app.training.run_thread import TAP_INTERVAL_S
from layerloom.runtime.data import load_dataset
from layerloom.runtime.health import HealthCollector
from layerloom.runtime.taps import FeatureTaps
from layerloom.runtime.tensorboard_log import TensorBoardLog
from layerloom.runtime.trainer import Trainer

CASE = tg.CASES["LeNet-5 on mnist-sample"]


def record(bundle, runs) -> list[tuple[float, dict]]:
    """A real run's events with the seconds since it started, as the window's run thread would get them."""
    events, t0 = [], time.monotonic()
    taps = FeatureTaps(blocks=[CASE["follow"]], interval=TAP_INTERVAL_S)    # as the window's run thread
    Trainer(tg.graph(CASE), dict(CASE["config"]), lambda e: events.append((time.monotonic() - t0, e)),
            runs_base=runs, data=bundle, taps=taps, extensions=[HealthCollector(), TensorBoardLog()]).run()
    return events


class Replay:
    """Stands in for the run thread's start: the recorded events arrive on time, then the thread 'ends'."""

    def __init__(self, runner, events):
        self.runner, self.events = runner, events

    def start(self, *_args, **_kwargs) -> None:
        r = self.runner
        r.thread = self                       # `running` is true while the replay goes on
        r.running_changed.emit(True)
        for at, event in self.events:
            QTimer.singleShot(int(at * 1000), lambda e=event: r._forward(e))
        QTimer.singleShot(int(self.events[-1][0] * 1000) + 20, self._end)

    def _end(self) -> None:
        self.runner.thread = None
        self.runner.running_changed.emit(False)


def main() -> None:
    quick = "--quick" in sys.argv
    app, tmp = tg.bench_app()
    cfg = CASE["config"]
    shape = tuple(tg.graph(CASE).blocks["input"].full_params()["shape"])
    bundle = load_dataset(cfg["dataset"], input_shape=shape, seed=0)
    runs = os.path.join(tmp, "runs")
    record(bundle, runs)                  # a first run warms the process up (its timings are not typical)
    events = record(bundle, runs)
    seconds = events[-1][0]
    gui = tg.AppRun(app, dict(CASE, train_count=len(bundle.train)), bundle, runs)
    gui.ui.training.start = Replay(gui.ui.training, events).start
    relayouts = EventCounter(gui.win, QEvent.Type.LayoutRequest)    # the main window laying itself out
    frames, epoch_draws = [0], [0]
    gui.ui.frame.timeout.connect(lambda: frames.__setitem__(0, frames[0] + 1))
    show_epoch = gui.ui.epochs.show_epoch

    def counted_show_epoch(*args):
        epoch_draws[0] += 1
        return show_epoch(*args)
    gui.ui.epochs.show_epoch = counted_show_epoch
    from layerloom.app import wheel_guard
    shares = {"as it is": [], "without the wheel guard": []}
    counts, frame_counts, epoch_counts = [], [], []
    for i in range(2 if quick else 5):
        for variant, share in shares.items():
            app.setStyle(wheel_guard.GuardStyle("Fusion") if variant == "as it is" else "Fusion")
            before, f0, e0 = relayouts.count, frames[0], epoch_draws[0]
            share.append(gui.run(len(bundle.train), probe_ms=None)[3])     # the GUI thread's CPU share
            if variant == "as it is":
                counts.append(relayouts.count - before)
                frame_counts.append(frames[0] - f0)
                epoch_counts.append(epoch_draws[0] - e0)
    app.setStyle(wheel_guard.GuardStyle("Fusion"))
    gui.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"A LeNet-5 run on mnist-sample ({len(events)} events over {seconds:.1f} s, feature maps of conv1) "
          f"replayed into the main window, {len(counts)} runs of each, alternating:")
    for variant, share in shares.items():
        print(f"  GUI thread's CPU time, {variant:<24}: {statistics.median(share):6.1%} of a core (median; "
              f"{', '.join(f'{s:.1%}' for s in share)})")
    for what, n in (("main window layouts", counts), ("frames (redraws of changed views)", frame_counts),
                    ("redraws of the epoch results", epoch_counts)):
        print(f"  {what} per run: {statistics.median(n):.0f} (median; {n})")


if __name__ == "__main__":
    main()
