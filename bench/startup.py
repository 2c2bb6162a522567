"""Start-up: time to the first paint of the Layerloom window against a bare PySide6 window, in one run.

Each measurement is a fresh Python process (nothing cached in memory but the OS's file cache), timed
from just before the process is started to the first Paint event any widget of its window receives:
  - bare: QApplication + an empty QMainWindow, shown;
  - layerloom: `layerloom` itself (app/launch.py with LeNet-5, as `make run` opens it);
  - canvas: Layerloom's canvas alone with LeNet-5 on it, in a main window: the floor for a window
    that would build its panels and menus after its first paint.
It also times `import torch` alone in a fresh process: torch's analysis cannot come before it (shapes
the rules cover show without it: graph/quick_analysis.py).
For the Layerloom window it also records which heavy modules were already imported at the first paint
(torch must not be among them: analysis loads in a background thread after the first paint), when
the shapes were on screen (the analysis result shown in the Summary, worked out by the rules or by torch),
when torch's analysis was ready, and when every panel was built
(the training, export and explaining parts, built once analysis has loaded). Then `python -X importtime -c "import layerloom.app.window"` says how many
modules importing the window loads and which heavy packages cost the most, and a last child says what
the first shapes cost once torch is in: importing analysis and analysing LeNet-5 once, the modules that
adds and the heavy ones among them. From the first paint until every panel is built, a 10 ms timer in
the window's GUI thread records its longest stall: how long a click or a key would have waited.
The machine is shared: every figure is noisy; the rounds are printed with their median.
Run: .venv/bin/python bench/startup.py [--rounds N]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _child import child_result

HEAVY = ("torch", "torchvision", "pyqtgraph", "numpy", "sympy", "torch._dynamo", "torch._inductor", "triton", "onnx",
         "PIL", "networkx")

CHILD_COMMON = r"""
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
HEAVY = %r
found = {}

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "paint" not in found:
            found["paint"] = time.time()
            found["loaded"] = [m for m in HEAVY if m in sys.modules]
            found["modules"] = len(sys.modules)
            QTimer.singleShot(0, done)
        return False

def report():
    print("RESULT " + json.dumps(found), flush=True)

app = QApplication.instance() or QApplication(["startup-bench"])
spy = FirstPaint()
app.installEventFilter(spy)
"""

BARE = CHILD_COMMON + r"""
from PySide6.QtWidgets import QMainWindow
def done():
    report()
    app.quit()
w = QMainWindow()
w.resize(1200, 800)
w.show()
app.exec()
"""

LAYERLOOM = CHILD_COMMON + r"""
from PySide6.QtWidgets import QMainWindow
ticks = []                       # a 10 ms timer in the GUI thread from the first paint: how long it stood still
probe = QTimer()
probe.setInterval(10)
probe.timeout.connect(lambda: ticks.append(time.time()))
def done():
    win = next(w for w in app.topLevelWidgets() if isinstance(w, QMainWindow))
    ticks.append(time.time())
    probe.start()
    if win.session.ready:
        found["analysis"] = time.time()
    win.session.analysis_ready.connect(lambda: found.setdefault("analysis", time.time()))
    def shapes_shown():
        result = getattr(win.session, "result", None)
        if "shapes" not in found and result is not None and win.summary.model.rows and result.blocks:
            found["shapes"] = time.time()
            found["shapes_by"] = "torch" if win.session.ready else "rules or kept"
        if "shapes" in found and getattr(win, "later_built", True):
            found["complete"] = time.time()
            ticks.append(found["complete"])
            found["stall_ms"] = max(b - a for a, b in zip(ticks, ticks[1:])) * 1000 - 10
            report()
            win.session.undo_stack.setClean()
            win.close()
        else:
            QTimer.singleShot(10, shapes_shown)
    shapes_shown()
from layerloom.app.launch import launch
launch(%r)
"""

# The floor for a window that would build its panels and menus after the first paint: Layerloom's
# canvas alone, with LeNet-5 on it, in a main window with a status bar.
CANVAS = CHILD_COMMON + r"""
from layerloom.app import settings, theme
from layerloom.app.canvas.scene import GraphScene
from layerloom.app.canvas.view import GraphView
from layerloom.app.session import Session
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path
from PySide6.QtWidgets import QMainWindow
def done():
    report()
    session.undo_stack.setClean()
    app.quit()
settings.ensure_identity()
theme.apply(settings.theme())
w = QMainWindow()
session = Session(w)
view = GraphView(GraphScene(session, w), w)
w.setCentralWidget(view)
session.set_document(load_graph(preset_path("lenet5")))
w.statusBar().showMessage("LeNet-5")
w.resize(1200, 800)
w.show()
app.exec()
"""

# What the background thread loads for the first shapes once torch is in: analysis and the first
# analysis of LeNet-5 (SymPy comes with PyTorch's meta kernels; graph/deferred_imports.py keeps
# TorchDynamo, TorchInductor and Triton out).
FIRST_ANALYSIS = r"""
import json, sys, time
import torch
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path
doc = load_graph(preset_path("lenet5"))
HEAVY = %r
before = set(sys.modules)
start = time.perf_counter()
from layerloom.graph.analysis import analyze
analyze(doc)
seconds = time.perf_counter() - start
new = set(sys.modules) - before
print("RESULT " + json.dumps({"paint": 0, "seconds": seconds, "modules": len(new),
                              "heavy": sorted(m for m in HEAVY if m in new)}))
"""

TORCH = r"""
import json, time
start = time.perf_counter()
import torch
print("RESULT " + json.dumps({"paint": 0, "import_torch_s": time.perf_counter() - start}))
"""


def child(code: str, data_home: str | None = None) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    if data_home is not None:         # where the window keeps its analysis results (and settings)
        env.update(XDG_DATA_HOME=os.path.join(data_home, "data"), XDG_CONFIG_HOME=os.path.join(data_home, "config"))
    start = time.time()
    data = child_result([sys.executable, "-c", code], "the child", env, timeout=300)
    data["paint_s"] = data["paint"] - start
    for key in ("shapes", "analysis", "complete"):
        if key in data:
            data[f"{key}_s"] = data[key] - start
    return data


def import_profile(module: str = "layerloom.app.window") -> tuple[int, list[tuple[str, float]]]:
    """(modules imported, [(heavy top-level package, cumulative seconds)]) from python -X importtime."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                         text=True, timeout=300)
    rows = []
    for line in out.stderr.splitlines():
        parts = line[len("import time:"):].split("|") if line.startswith("import time:") else []
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue                                   # the header line
        rows.append((parts[2].strip(), int(parts[1])))
    count = len(rows)
    heavy = sorted(((n, us / 1e6) for n, us in rows if n in HEAVY), key=lambda r: -r[1])
    return count, heavy


def _uncovered_graph(folder: str) -> str:
    """A graph the rules do not cover (graph/quick_analysis.py): Input -> Conv2d with reflect padding -> Flatten ->
    Linear -> Output."""
    from layerloom.graph import GraphDocument
    from layerloom.graph.fileformat import save_graph
    doc = GraphDocument("Reflect padding")
    last = doc.add_block("Input", {"shape": [1, 28, 28]})
    for kind, params in (("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}),
                         ("Flatten", {}), ("Linear", {"out_features": 10}), ("Output", {})):
        block = doc.add_block(kind, params)
        doc.connect(last, block)
        last = block
    path = os.path.join(folder, "reflect.loom.json")
    save_graph(doc, path)
    return path


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    print("machine may be loaded (shared); each round starts fresh processes")
    print("cold: LeNet-5 with a data folder with no analysis kept (its shapes are worked out by the rules, without "
          "torch); again: the graph was analysed in an earlier session; other: cold, a graph with reflect padding, "
          "which the rules leave to torch (its shapes wait for torch's analysis)")
    bare, canvas, torch_s, cold, again, other = [], [], [], [], [], []
    warm_home = tempfile.mkdtemp(prefix="startup-warm-")
    uncovered = _uncovered_graph(warm_home)
    child(LAYERLOOM % (HEAVY, []), warm_home)            # analyses LeNet-5 once: its result is kept
    for r in range(args.rounds):
        b = child(BARE % (HEAVY,))
        canvas.append(child(CANVAS % (HEAVY,))["paint_s"] / b["paint_s"])
        torch_s.append(child(TORCH)["import_torch_s"])
        with tempfile.TemporaryDirectory(prefix="startup-cold-") as cold_home:
            c = child(LAYERLOOM % (HEAVY, []), cold_home)
        with tempfile.TemporaryDirectory(prefix="startup-cold-") as cold_home:
            other.append(child(LAYERLOOM % (HEAVY, [uncovered]), cold_home))
        a = child(LAYERLOOM % (HEAVY, []), warm_home)
        bare.append(b["paint_s"])
        cold.append(c)
        again.append(a)
        for name, o in (("cold", c), ("again", a), ("other", other[-1])):
            print(f"round {r + 1} {name:5}: bare window {b['paint_s']:.3f} s; layerloom first paint {o['paint_s']:.3f} s "
                  f"({o['paint_s'] / b['paint_s']:.1f}x bare), shapes shown {o.get('shapes_s', float('nan')):.3f} s "
                  f"(by {o.get('shapes_by', '?')}), torch's analysis ready {o.get('analysis_s', float('nan')):.3f} s, "
                  f"every panel built {o.get('complete_s', float('nan')):.3f} s, {o['modules']} modules at first "
                  f"paint; the window's longest stall meanwhile {o.get('stall_ms', float('nan')):.0f} ms")
        print(f"round {r + 1}: Layerloom's canvas alone {canvas[-1]:.1f}x bare; import torch alone "
              f"{torch_s[-1]:.2f} s in a fresh process")
    shutil.rmtree(warm_home, ignore_errors=True)
    b = statistics.median(bare)
    for name, runs in (("cold", cold), ("again", again), ("other", other)):
        paint = statistics.median(o["paint_s"] for o in runs)
        shapes = statistics.median(o.get("shapes_s", float("nan")) for o in runs)
        ready = statistics.median(o.get("analysis_s", float("nan")) for o in runs)
        built = statistics.median(o.get("complete_s", float("nan")) for o in runs)
        stall = statistics.median(o.get("stall_ms", float("nan")) for o in runs)
        print(f"median {name:5}: bare {b:.3f} s, layerloom first paint {paint:.3f} s = {paint / b:.1f}x bare "
              f"(goal <= 1.5x), shapes shown {shapes:.3f} s (goal <= 1.5 s), torch's analysis ready {ready:.3f} s, "
              f"every panel built {built:.3f} s, "
              f"longest stall of the window from its first paint until then {stall:.0f} ms")
    print(f"median: the canvas alone paints at {statistics.median(canvas):.1f}x bare (what a window building "
          f"its panels after the first paint could reach); import torch alone {statistics.median(torch_s):.2f} s "
          "(torch's analysis cannot come before it)")
    print(f"heavy modules imported before the first paint: {', '.join(cold[-1]['loaded']) or 'none'} (cold), "
          f"{', '.join(again[-1]['loaded']) or 'none'} (again)")
    count, heavy = import_profile()
    print(f"python -X importtime -c 'import layerloom.app.window': {count} modules; heavy packages (cumulative): "
          + (", ".join(f"{n} {s:.2f} s" for n, s in heavy) or "none"))
    first = child(FIRST_ANALYSIS % (HEAVY,))
    print(f"after import torch, importing analysis and analysing LeNet-5 the first time: {first['seconds']:.2f} s, "
          f"{first['modules']} more modules; heavy among them: {', '.join(first['heavy']) or 'none'}")


if __name__ == "__main__":
    main()
