"""Building the editor window: from `MainWindow()` until every panel is built, in one process.

Each round builds a window (empty graph, 1400×900, offscreen), waits for every panel (the later parts,
built once analysis has loaded: their modules are imported first, as the test suite does), then closes
and deletes it. It counts the widgets made and the events Qt delivered meanwhile.

For comparison, in the same process, it builds the same window with one extra application-wide Python
event filter that does nothing: that is what the wheel guard was before it moved into the application's
style (app/wheel_guard.py). PySide6 calls into Python for every event of every object while such a
filter is installed; the ratio says what that cost.
The machine is shared: every figure is noisy; rounds alternate between the two and report medians.
Run: .venv/bin/python bench/window_build.py [--rounds N]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()

    from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication([])
    QCoreApplication.setOrganizationName("LayerloomBench")     # the windows' settings go to a folder of its own
    QCoreApplication.setApplicationName("LayerloomBench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    settings_folder = tempfile.mkdtemp(prefix="window-build-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_folder)
    QSettings().setValue("training/runs_dir", os.path.join(settings_folder, "runs"))
    from layerloom.app import theme
    from layerloom.app.later_parts import LATER_MODULES
    theme.apply("light")
    for name in LATER_MODULES:
        __import__(name)
    import layerloom.graph.analysis  # noqa: F401  (loaded, as after start-up)
    from layerloom.app.window import MainWindow

    class Counting(QObject):
        def __init__(self):
            super().__init__()
            self.events = 0

        def eventFilter(self, obj, event) -> bool:
            self.events += 1
            return False

    def build(extra_filter: bool) -> tuple[float, int, int]:
        counter = Counting() if extra_filter else None
        if counter is not None:
            app.installEventFilter(counter)
        before = len(QApplication.allWidgets())
        start = time.perf_counter()
        win = MainWindow(restore_settings=False)
        win.resize(1400, 900)
        win.show()
        deadline = time.monotonic() + 120
        while not win.later_built:
            if time.monotonic() > deadline:
                raise SystemExit(f"the window's panels were not built within 2 minutes: {win.unavailable or 'why is unknown'}")
            app.processEvents()
        took = time.perf_counter() - start
        made = len(QApplication.allWidgets()) - before
        if counter is not None:
            app.removeEventFilter(counter)
        win.session.undo_stack.setClean()
        win.close()
        win.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        return took, made, counter.events if counter is not None else 0

    build(False)                         # first use of everything: not counted
    plain, filtered, widgets, events = [], [], 0, 0
    for r in range(args.rounds):
        t, widgets, _ = build(False)
        plain.append(t)
        t, _, events = build(True)
        filtered.append(t)
        print(f"round {r + 1}: window built in {plain[-1]:.3f} s; with an application-wide Python filter "
              f"{filtered[-1]:.3f} s")
    a, b = statistics.median(plain), statistics.median(filtered)
    shutil.rmtree(settings_folder, ignore_errors=True)
    print(f"median: window built in {a:.3f} s ({widgets} widgets made); with an application-wide Python "
          f"event filter {b:.3f} s = {b / a:.2f}x ({events} events went through it)")


if __name__ == "__main__":
    main()
