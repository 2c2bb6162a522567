"""Render docs/screenshot-training.png: LeNet-5 training in the window, mid-run.

The real main window (offscreen) opens the LeNet-5 preset, selects conv2 (so the Feature maps panel
follows it), trains on the offline MNIST sample from the Training panel, and grabs the window once the
chosen epoch has ended and a few more steps have drawn: the loss and accuracy curves, the confusion
matrix and conv2's feature maps are all live. Then it stops the run and waits for its thread.

Run: .venv/bin/python tools/training_screenshot.py OUT.png [--theme light|dark] [--size 1600x1000]
     [--epochs 12] [--grab-after 6]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LAYERLOOM_NO_ERROR_DIALOG"] = "1"

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from layerloom.app import theme  # noqa: E402
from layerloom.app.window import MainWindow  # noqa: E402
from layerloom.presets import preset_path  # noqa: E402

TIMEOUT_MS = 300_000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("out")
    p.add_argument("--theme", choices=("light", "dark"), default="light")
    p.add_argument("--size", default="1600x1000", help="window size (WxH)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--grab-after", type=int, default=6, help="grab once this epoch has ended")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply(args.theme)
    win = MainWindow(restore_settings=False)
    win.theme_mode = args.theme
    win.resize(width, height)
    win.show()
    app.processEvents()
    ui = win.training
    runs = tempfile.TemporaryDirectory(prefix="layerloom-shot-")
    ui.set_runs_folder(Path(runs.name))
    win.files.open_preset(preset_path("lenet5"))
    win.scene.select_blocks(["conv2"])
    ui.dock.show()
    ui.dock.raise_()
    ui.panel.settings.epochs.setValue(args.epochs)
    result = {"code": 1, "grabbing": False}

    def grab() -> None:
        win.view.fit()
        app.processEvents()
        ok = win.grab().save(args.out)
        print(f"wrote {args.out} ({width}×{height})" if ok else f"could not write {args.out}")
        result["code"] = 0 if ok else 1
        ui.shutdown(10_000)
        app.quit()

    def on_event(event: dict) -> None:
        if event.get("type") == "epoch_end" and event.get("epoch") == args.grab_after:
            result["grabbing"] = True
            QTimer.singleShot(400, grab)         # a few more steps draw on the curves and maps
        elif event.get("type") in ("failed", "finished") and not result["grabbing"]:
            print(f"the run ended before epoch {args.grab_after}: {event.get('message', event['type'])}")
            app.quit()

    def start() -> None:
        if ui.run.can_start():
            ui.run.event.connect(on_event)
            if not ui.start():
                print(f"training could not start: {ui.panel.message.text()}")
                app.quit()
        else:
            QTimer.singleShot(200, start)         # the data set is still loading

    QTimer.singleShot(200, start)
    QTimer.singleShot(TIMEOUT_MS, app.quit)
    app.exec()
    ui.shutdown(10_000)
    win.session.undo_stack.setClean()
    win.close()
    runs.cleanup()
    return result["code"]


if __name__ == "__main__":
    sys.exit(main())
