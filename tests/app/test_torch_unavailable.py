"""A broken install: PyTorch cannot be imported (a missing shared library, as a partial install or mixed
CUDA libraries leave it). The window still opens and edits and saves the graph; every place where
numbers would be says "not analysed", what needs PyTorch says so when asked for, and the reason with
what to do is shown once; the command line says the same in one line, without a traceback.

Each test runs a fresh Python process whose `import torch` finds a stand-in package that raises what a
missing libtorch_cpu.so raises (the test process has the real torch loaded long ago)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from layerloom.graph.fileformat import load_graph, save_graph
from layerloom.presets import preset_path

from ..graph.helpers import chain

REASON = "libtorch_cpu.so: cannot open shared object file: No such file or directory"

WINDOW = r"""
import json, sys, time
from PySide6.QtCore import QEventLoop, QTimer, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox
app = QApplication([])
errors = []
sys.excepthook = lambda kind, value, tb: errors.append(f"{kind.__name__}: {value}")
from layerloom.app.window import LATER, MainWindow
from layerloom.presets import preset_path
win = MainWindow(restore_settings=False)
win.files.open_preset(preset_path("lenet5"))
win.resize(1280, 800)
win.show()
win.activateWindow()
QTest.qWaitForWindowActive(win, 3000)
win.view.setFocus()

def wait(cond, seconds=60):
    end = time.time() + seconds
    while not cond() and time.time() < end:
        loop = QEventLoop()
        QTimer.singleShot(20, loop.quit)
        loop.exec()

def boxes():
    return [w for w in app.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]

"""                                 # the window on LeNet-5, and what the children below use

CHILD = WINDOW + r"""
seen = {"lenet_rows": [list(r[:6]) for r in win.summary.model.rows]}   # worked out by the rules, without torch
win.files.open_preset(sys.argv[2])                      # reflect padding: the rules cannot vouch for it
QTest.keyClick(win.view, Qt.Key.Key_F5)                 # Train, pressed before PyTorch has (not) loaded
seen["status_after_f5"] = win.statusBar().currentMessage()
wait(lambda: win.session.unavailable is not None and boxes())
seen["unavailable"] = win.session.unavailable
seen["first_box"] = [b.text() for b in boxes()]
seen["summary_rows"] = [list(r[3:]) for r in win.summary.model.rows]
seen["summary_cells"] = [win.summary.model.index(0, c).data() for c in range(6)]
seen["totals"] = win.summary.totals.text()
seen["inspector"] = win.inspector.totals.text()
seen["status"] = win._status.text()
seen["canvas"] = sorted({item.look.shape for item in win.scene.blocks.values()})
seen["training_dock"] = win.docks["training"].widget().text()
seen["later_built"] = win.built("training") is not None
boxes()[0].button(QMessageBox.StandardButton.Ok).click()
wait(lambda: not boxes(), 5)
win.activateWindow()
QTest.qWaitForWindowActive(win, 3000)
win.view.setFocus()
QTest.keyClick(win.view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)     # Export Model
wait(lambda: boxes(), 5)
seen["export_box"] = [b.text() for b in boxes()]
for b in boxes():
    b.button(QMessageBox.StandardButton.Ok).click()
win.scene.select_blocks(["fc1"])                        # editing works without PyTorch
win.view.setFocus()
QTest.keyClick(win.view, Qt.Key.Key_Delete)
seen["blocks_after_delete"] = len(win.document.blocks)
seen["canvas_after_delete"] = sorted({item.look.shape for item in win.scene.blocks.values()})
win.session.set_path(sys.argv[1])                       # and so does saving (File ▸ Save)
seen["saved"] = win.files.save()
seen["torch_usable"] = "torch" in sys.modules and hasattr(sys.modules["torch"], "tensor")
seen["errors"] = errors
win.session.undo_stack.setClean()
win.close()
print("RESULT " + json.dumps(seen))
"""


def _broken_torch(tmp_path, name: str = "torch", reason: str = REASON) -> dict:
    """An environment whose `import torch` (or `import name`) fails as a missing shared library makes it fail."""
    package = tmp_path / "stand_in" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"raise ImportError({reason!r})\n")
    home = tmp_path / "home"
    return dict(os.environ, PYTHONPATH=str(package.parent), QT_QPA_PLATFORM="offscreen",
                LAYERLOOM_NO_ERROR_DIALOG="1", HOME=str(home), XDG_DATA_HOME=str(home / "data"),
                XDG_CONFIG_HOME=str(home / "config"))


def test_without_pytorch_the_window_edits_and_says_why_nothing_is_analysed(tmp_path):
    uncovered = chain(("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}), ("Flatten", {}), ("Linear", {"out_features": 10}),
                      shape=(2, 4, 4), name="Reflect padding")
    save_graph(uncovered, tmp_path / "reflect.loom.json")
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "edited.loom.json"),
                          str(tmp_path / "reflect.loom.json")], capture_output=True,
                         text=True, env=_broken_torch(tmp_path), timeout=240)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stdout[-2000:] + out.stderr[-3000:]
    seen = json.loads(lines[-1][len("RESULT "):])
    assert seen["errors"] == [] and "Traceback" not in out.stderr
    assert not seen["torch_usable"] and not seen["later_built"]
    # why, with what to do: once, naming what was asked for meanwhile
    assert seen["status_after_f5"] == "Train: waiting for PyTorch to load…"
    reason = seen["unavailable"]
    assert reason.startswith("PyTorch could not be loaded") and REASON in reason and "make clean" in reason
    [first] = seen["first_box"]
    assert first.startswith("Train: not possible.") and "can still be edited and saved" in first and reason in first
    [export] = seen["export_box"]
    assert export.startswith("Export Model needs PyTorch") and reason in export
    # "not analysed" wherever numbers would be; nothing says "analysing…" any more
    assert {tuple(r) for r in seen["summary_rows"]} == {("not analysed", 0, 0, "unavailable")}
    assert seen["summary_cells"][2:] == ["not analysed", "—", "—", "—"]
    assert "not analysed" in seen["totals"] and REASON in seen["totals"]
    assert seen["inspector"].endswith("not analysed") and "not analysed" in seen["status"]
    assert seen["canvas"] == ["not analysed"] and seen["canvas_after_delete"] == ["not analysed"]
    assert seen["training_dock"] == reason
    saved = load_graph(tmp_path / "edited.loom.json")
    assert seen["blocks_after_delete"] == len(uncovered.blocks) - 1 and seen["saved"]
    assert set(saved.blocks) == set(uncovered.blocks) - {"fc1"}
    # a graph the rules cover still shows its numbers without PyTorch: those torch's analysis gives
    reference = _lenet_rows()
    assert [r[:2] + r[3:] for r in seen["lenet_rows"]] == reference, (seen["lenet_rows"], reference)


def _lenet_rows() -> list:
    """LeNet-5's rows in the Summary (block, kind, shape, parameters, MACs) from torch's analysis."""
    from layerloom.graph import analyze
    from layerloom.graph.diagnostics import shape_text
    doc = load_graph(preset_path("lenet5"))
    result = analyze(doc)
    return [[b, doc.blocks[b].kind, shape_text(r.output_shape), r.param_count, r.macs] for b, r in result.blocks.items()]


def test_without_pytorch_the_command_line_says_why_in_one_line(tmp_path):
    env = _broken_torch(tmp_path)
    lenet = str(preset_path("lenet5"))
    for argv in (["check", lenet], ["summary", lenet, "--json"], ["train", lenet, "--epochs", "1"]):
        out = subprocess.run([sys.executable, "-m", "layerloom.app.main", *argv], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 1 and out.stdout == "", (argv, out.stdout[-500:], out.stderr[-2000:])
        [line] = out.stderr.strip().splitlines()
        assert line.startswith("layerloom: PyTorch could not be loaded") and REASON in line and "make clean" in line
    helped = subprocess.run([sys.executable, "-m", "layerloom.app.main", "train", "--help"], capture_output=True,
                            text=True, env=env, timeout=120)            # a command's help needs no torch
    assert helped.returncode == 0 and helped.stdout.startswith("usage: layerloom train") and helped.stderr == ""
    shot = tmp_path / "window.png"
    out = subprocess.run([sys.executable, "-m", "layerloom.app.main", "--screenshot", str(shot)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and shot.stat().st_size > 10_000 and "Traceback" not in out.stderr
    assert f"layerloom: PyTorch could not be loaded ({'ImportError: ' + REASON})" in out.stderr


PLOTS_CHILD = WINDOW + r"""
wait(lambda: win.unavailable is not None and boxes())
seen = {"unavailable": win.unavailable, "box": [b.text() for b in boxes()], "totals": win.summary.totals.text(),
        "built": [n for n in LATER if win.built(n) is not None], "later_built": win.later_built,
        "training_dock": win.docks["training"].widget().text()}
for b in boxes():
    b.button(QMessageBox.StandardButton.Ok).click()
wait(lambda: not boxes(), 5)
win.actions_by_name["train_start"].trigger()
wait(lambda: boxes(), 5)
seen["train_box"] = [b.text() for b in boxes()]
seen["errors"] = errors
win.session.undo_stack.setClean()
win.close()
print("RESULT " + json.dumps(seen))
"""


def test_without_the_plotting_library_the_graph_is_analysed_and_the_panels_say_why_they_are_missing(tmp_path):
    reason = "libGL.so.1: cannot open shared object file: No such file or directory"
    out = subprocess.run([sys.executable, "-c", PLOTS_CHILD], capture_output=True, text=True,
                         env=_broken_torch(tmp_path, "pyqtgraph", reason), timeout=240)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stdout[-2000:] + out.stderr[-3000:]
    seen = json.loads(lines[-1][len("RESULT "):])
    assert seen["errors"] == [] and "Traceback" not in out.stderr
    assert seen["unavailable"].startswith(f"pyqtgraph could not be loaded (ImportError: {reason})")
    assert "61,706" in seen["totals"]                       # analysis needs no plots: LeNet-5's parameters
    assert seen["built"] == [] and not seen["later_built"]  # the parts built before the failure are gone
    [box] = seen["box"]
    assert box.startswith("Training, export and explaining need pyqtgraph") and seen["unavailable"] in box
    assert seen["training_dock"] == seen["unavailable"]
    [train] = seen["train_box"]
    assert train.startswith("Train needs pyqtgraph, which could not be loaded.")


CLOSED_CHILD = WINDOW + r"""
win.session.undo_stack.setClean()
win.close()                                      # closed before PyTorch has (not) loaded
wait(lambda: win.session.unavailable is not None)
wait(lambda: False, 0.5)
print("RESULT " + json.dumps({"unavailable": win.session.unavailable, "boxes": [b.text() for b in boxes()],
                              "errors": errors}))
"""


def test_a_window_closed_before_pytorch_fails_to_load_opens_no_message(tmp_path):
    out = subprocess.run([sys.executable, "-c", CLOSED_CHILD], capture_output=True, text=True,
                         env=_broken_torch(tmp_path), timeout=240)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stdout[-2000:] + out.stderr[-3000:]
    seen = json.loads(lines[-1][len("RESULT "):])
    assert REASON in seen["unavailable"] and seen["boxes"] == [] and seen["errors"] == []
