"""Start-up order: the window paints its graph before torch is imported, shows "analysing…" where the
numbers will be, then fills them in from the analysis loaded in the background. A graph the rules cover
(LeNet-5, which `make run` opens) shows its numbers at the first paint, still without torch
(graph/quick_analysis.py); a graph with reflect padding, which they do not cover, shows "analysing…".

The first two tests run a fresh Python process (the test process has torch loaded long ago)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.graph.fileformat import save_graph
from layerloom.graph.diagnostics import shape_text
from layerloom.presets import preset_path

from ..graph.helpers import chain

HEAVY = ("torch", "torchvision", "pyqtgraph", "numpy", "sympy", "networkx", "onnx", "PIL")

CHILD = r"""
import json, sys, time
T0 = time.monotonic()
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from layerloom.app.window import MainWindow
from layerloom.app.session import ANALYSING
from layerloom.presets import preset_path
HEAVY = %r
seen = {"after_import": [m for m in HEAVY if m in sys.modules]}
win = MainWindow(restore_settings=False)
seen["after_construction"] = [m for m in HEAVY if m in sys.modules]
win.files.open_preset(%r)
win.resize(1400, 900)

def at_paint():
    seen["at_paint"] = [m for m in HEAVY if m in sys.modules]
    seen["result_at_paint"] = win.session.result is not None
    seen["summary_at_paint"] = [list(r[:4]) for r in win.summary.model.rows]
    seen["totals_at_paint"] = win.summary.totals.text()
    seen["status_at_paint"] = win._status.text()
    seen["canvas_at_paint"] = {b: item.look.shape for b, item in win.scene.blocks.items()}
    seen["problems_at_paint"] = win.problems.empty.text()
    seen["later_at_paint"] = win.built("training") is not None
    import gc
    seen["frozen_at_paint"] = gc.get_freeze_count()
    seen["paint_after_s"] = time.monotonic() - T0

class Spy(QObject):
    def eventFilter(self, obj, event):
        if obj is win.view.viewport() and event.type() == QEvent.Type.Paint and "at_paint" not in seen:
            at_paint()
        return False

imported_by_build = []
steps = []                 # each step of building the later parts: (event-loop turns so far, built, more to do)
turns = [0]
turner = QTimer()
turner.timeout.connect(lambda: turns.__setitem__(0, turns[0] + 1))
turner.start(0)
original_step = win._build_next
def build_next():
    before = set(sys.modules)
    more = original_step()
    steps.append((turns[0], win.later_built, more))
    imported_by_build.extend(sorted(set(sys.modules) - before))
    return more
win._build_next = build_next
spy = Spy()
win.view.viewport().installEventFilter(spy)
win.show()
start = time.time()
while "at_paint" not in seen and time.time() - start < 30:
    app.processEvents()
if %r:                     # an edit while analysis loads: the result must include it
    win.session.start_loading()
    seen["edited"] = win.view.add_block_at("Dropout", win.view.mapToScene(10, 10)) is not None
while not (win.session.result is not None and win.later_built) and time.time() - start < 240:
    app.processEvents()
    time.sleep(0.01)
result = win.session.result
seen["result_blocks"] = sorted(result.blocks) if result is not None else None
seen["summary_after"] = [list(r[:4]) for r in win.summary.model.rows]
seen["canvas_after"] = {b: item.look.shape for b, item in win.scene.blocks.items()}
seen["doc_blocks"] = sorted(win.document.blocks)
seen["later_after"] = win.later_built
import gc
seen["frozen_after"] = gc.get_freeze_count()
seen["imported_by_build"] = imported_by_build
seen["build_steps"] = steps
seen["training_dock_holds_panel"] = win.docks["training"].widget() is win.training.panel
seen["curves_dock_holds_plots"] = win.docks["curves"].widget() is win.training.plots
print("RESULT " + json.dumps(seen), flush=True)
win.session.undo_stack.setClean()
win.close()
from layerloom.app import background
background.wait_for_all()
"""


def _uncovered_graph(folder) -> str:
    """A graph the rules do not cover (a convolution with reflect padding): its numbers wait for torch's analysis."""
    path = folder / "reflect.loom.json"
    if not path.exists():
        save_graph(chain(("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}), ("Flatten", {}), ("Linear", {"out_features": 10}),
                         shape=(2, 4, 4), name="Reflect padding"), path)
    return str(path)


def _run(edit: bool, home, graph: str | None = None) -> dict:
    graph = graph or _uncovered_graph(home)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LAYERLOOM_NO_ERROR_DIALOG="1", HOME=str(home),
               XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"))
    out = subprocess.run([sys.executable, "-c", CHILD % (HEAVY, graph, edit)], capture_output=True, text=True, env=env,
                         timeout=300)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, out.stdout[-2000:] + out.stderr[-4000:]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def first_start(tmp_path_factory):
    """The app's first start on the graph the rules leave to torch, in a fresh home: (home, what it saw)."""
    home = tmp_path_factory.mktemp("home")
    return home, _run(edit=False, home=home)


def test_the_window_paints_its_graph_before_torch_then_fills_in_the_numbers(first_start):
    tmp_path, seen = first_start
    assert seen["after_import"] == [] and seen["after_construction"] == []
    assert seen["at_paint"] == [], f"imported before the first paint: {seen['at_paint']}"
    assert seen["later_at_paint"] is False and seen["result_at_paint"] is False
    # the GUI thread's garbage collector makes its first full collection and freeze after the first
    # paint, not in its way (app/pyside_workarounds.py); it has made them by the time the numbers show
    # (or after its first second, when a machine busy with other work takes longer than that to paint)
    assert seen["frozen_at_paint"] == 0 or seen["paint_after_s"] > 1.0, seen
    assert seen["frozen_after"] > 0, seen
    doc = load_graph(_uncovered_graph(tmp_path))
    # "analysing…" where the numbers will be: no empty or wrong numbers
    assert [r[0] for r in seen["summary_at_paint"]] == list(doc.blocks)
    assert all(r[3] == "analysing…" for r in seen["summary_at_paint"])
    assert "analysing…" in seen["totals_at_paint"] and "parameters" not in seen["totals_at_paint"].split("·")[0]
    assert "analysing…" in seen["status_at_paint"] and "params" not in seen["status_at_paint"]
    assert set(seen["canvas_at_paint"]) == set(doc.blocks)
    assert all(shape == "analysing…" for shape in seen["canvas_at_paint"].values())
    assert seen["problems_at_paint"].startswith("Analysing")
    # then the shapes: each block's output shape as torch computes it on the compiled model's layers
    reference = analyze(doc)
    model = compile_graph(doc)
    import torch
    (inp,) = [b for b in doc.blocks if doc.blocks[b].kind == "Input"]
    (out,) = [b for b in doc.blocks if doc.blocks[b].kind == "Output"]
    assert tuple(model(torch.zeros(2, *doc.blocks[inp].params["shape"])).shape[1:]) == \
        reference.blocks[out].output_shape
    after = {r[0]: r[3] for r in seen["summary_after"]}
    assert after == {b: shape_text(r.output_shape) for b, r in reference.blocks.items()}
    assert all(shape != "analysing…" for shape in seen["canvas_after"].values())
    assert seen["later_after"] and seen["training_dock_holds_panel"] and seen["curves_dock_holds_plots"]
    # the later parts' modules (pyqtgraph, Optuna...) were imported in the background, not by the GUI thread
    assert not any(m.split(".")[0] in ("pyqtgraph", "optuna", "numpy", "torch") for m in seen["imported_by_build"]), \
        seen["imported_by_build"]
    # built one step per turn of the event loop (input and paints go on between them), then finished
    from layerloom.app.window import LATER
    steps = seen["build_steps"]
    assert len(steps) > len(LATER) and [s[1:] for s in steps] == [[False, True]] * (len(steps) - 1) + [[True, False]], \
        steps                        # at least a step a part (the training part takes one per panel), then the end
    assert all(a[0] < b[0] for a, b in zip(steps, steps[1:])), steps


def test_opened_again_the_graph_shows_its_shapes_before_torch(first_start):
    tmp_path, _ = first_start                         # analysed once there: the result is kept
    seen = _run(edit=False, home=tmp_path)
    assert seen["at_paint"] == [], f"imported before the first paint: {seen['at_paint']}"
    assert seen["result_at_paint"] is True
    reference = analyze(load_graph(_uncovered_graph(tmp_path)))
    assert {r[0]: r[3] for r in seen["summary_at_paint"]} == \
        {b: shape_text(r.output_shape) for b, r in reference.blocks.items()}
    assert f"{reference.total_params:,} params" in seen["status_at_paint"]
    assert seen["canvas_at_paint"] == seen["canvas_after"]


def test_lenet5_shows_its_numbers_at_the_first_paint_without_torch_and_an_edit_is_in_the_first_result(tmp_path):
    seen = _run(edit=True, home=tmp_path, graph=str(preset_path("lenet5")))        # a fresh home: nothing kept from earlier
    assert seen["at_paint"] == [], f"imported before the first paint: {seen['at_paint']}"
    assert seen["result_at_paint"] is True
    reference = analyze(load_graph(preset_path("lenet5")))         # torch's analysis, in this process
    assert {r[0]: r[3] for r in seen["summary_at_paint"]} == \
        {b: shape_text(r.output_shape) for b, r in reference.blocks.items()}
    assert f"{reference.total_params:,} params" in seen["status_at_paint"] and "analysing" not in seen["status_at_paint"]
    assert not any(shape == "analysing…" for shape in seen["canvas_at_paint"].values())
    assert seen["edited"]
    assert seen["result_blocks"] == seen["doc_blocks"]
    assert any(b.startswith("drop") for b in seen["result_blocks"])


def test_a_later_part_asked_for_early_is_built_on_the_spot(qtbot):
    from layerloom.app.window import LATER, MainWindow
    win = MainWindow(restore_settings=False)
    qtbot.addWidget(win)
    assert all(win.built(name) is None for name in LATER)
    assert win.docks["training"].widget() is not None         # the placeholder until then
    panel = win.training.panel                                 # code asks for it (a person's action waits)
    assert win.later_built and all(win.built(name) is not None for name in LATER)
    assert win.docks["training"].widget() is panel
    win.build_later()                                          # once only
    assert win.training.panel is panel



# A fresh process started as the app starts: which threads have already run a torch op, and with what
# count, is state of the whole process that this test must not inherit from (or leave to) the suite.
CORES = r"""
import json, os, threading
from layerloom.app.launch import _cores_for_training
_cores_for_training()                   # what launch() does first, before torch loads
import torch
from layerloom.runtime.threads import OTHER_THREADS, use_threads

def os_threads():
    return len(os.listdir("/proc/self/task"))

def parallel_work():
    a = torch.randn(400, 400)
    (a @ a).relu_()
    torch.randn(2_000_000).exp_()

seen = {"omp": os.environ.get("OMP_NUM_THREADS"), "other_threads": OTHER_THREADS}
use_threads(2)                          # this thread trains: its count, set before its first op
parallel_work()
seen["training"] = torch.get_num_threads()

def window():
    before = os_threads()
    a = torch.randn(400, 400)
    a @ a                               # an MKL call first, which no torch setting reaches
    parallel_work()                     # its first parallel op: it takes the default
    seen["window"] = torch.get_num_threads()
    seen["workers_started_by_the_window"] = os_threads() - before

t = threading.Thread(target=window)
t.start()
t.join()
seen["training_after"] = torch.get_num_threads()

# A job's thread (explaining, pruning) ends with its job, workers and all: it gets a run's default count.
import layerloom.runtime.threads as policy
from layerloom.app.background import Job
policy.available_cores = lambda: 4           # as on a 4-core machine: default_threads() is 3
job = Job(lambda: (parallel_work(), torch.get_num_threads())[1])
job.start()
job.wait()
seen["job"] = job.result
def later():                                 # a thread that starts later still takes one
    torch.randn(2_000_000).exp_()
    seen["window_after_job"] = torch.get_num_threads()
t = threading.Thread(target=later)
t.start()
t.join()
print("RESULT " + json.dumps(seen))
"""


def _child(code: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, out.stderr[-3000:]
    return json.loads(line[len("RESULT "):])


def test_the_window_process_keeps_the_cores_for_training():
    """Only the training thread uses more than one intra-op thread (runtime/threads.py says why): the
    training thread keeps its 2 across its first op (a count set before it would be replaced then by
    torch's default), and a thread that starts using torch later (the window, a background job) has
    one and starts no OpenMP worker, counted by the OS; a job's own thread, which ends with it, gets the
    count a run would. An OMP_NUM_THREADS the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "LAYERLOOM_THREADS")}
    seen = _child(CORES, env)
    assert seen == {"omp": "1", "other_threads": 1, "training": 2, "training_after": 2, "window": 1,
                    "workers_started_by_the_window": 0, "job": 3, "window_after_job": 1}
    kept = _child("import json, os\nfrom layerloom.app.launch import _cores_for_training\n_cores_for_training()\n"
                  "print('RESULT ' + json.dumps(os.environ['OMP_NUM_THREADS']))", dict(env, OMP_NUM_THREADS="3"))
    assert kept == "3"


def test_an_action_asked_for_before_torch_has_loaded_waits_for_it_and_the_window_stays_live(qtbot):
    """Ctrl+E, F5 or Prune pressed in the first seconds: the window does not build the later parts on the
    spot (that holds the GUI thread until torch has loaded); it says what is coming and does it once they
    are built, once however often it was asked for. An action on a run says there is none."""
    from layerloom.app.pruning import PruneDialog
    from layerloom.app.window import MainWindow
    win = MainWindow(restore_settings=False)
    qtbot.addWidget(win)
    win.session.set_document(load_graph(preset_path("lenet5")))
    win.show()
    assert not win.later_built
    win.actions_by_name["prune"].trigger()
    assert not win.later_built, "built on the spot: the window stood still until torch had loaded"
    assert win.statusBar().currentMessage() == "Prune Channels: waiting for PyTorch to load…"
    win.view.prune_requested.emit("conv1")          # the block's context menu, meanwhile
    win.actions_by_name["train_stop"].trigger()
    assert win.statusBar().currentMessage() == "Stop Training: no run yet."
    assert not win.later_built
    qtbot.waitUntil(lambda: win.later_built, timeout=60_000)
    qtbot.waitUntil(lambda: win.built("pruning").dialog is not None, timeout=60_000)
    dialogs = [w for w in win.findChildren(PruneDialog) if w.isVisible()]
    assert len(dialogs) == 1 and dialogs[0] is win.pruning.dialog
    assert dialogs[0].windowTitle() == "Prune channels"
    assert win.training.run.active is False         # the stop asked for earlier did nothing
    dialogs[0].reject()
    win.actions_by_name["prune"].trigger()          # built now: at once
    assert win.pruning.dialog is not None and win.pruning.dialog.isVisible()
    win.pruning.dialog.reject()


LIBRARIES_CHILD = r"""
import json, sys
from layerloom.app.analysis_loading import TORCH_LIBRARIES, load_torch_libraries
def mapped():
    with open("/proc/self/maps") as f:
        return sorted({line.split()[-1] for line in f if any(line.rstrip().endswith("/" + n) for n in TORCH_LIBRARIES)})
seen = {"before": mapped()}
load_torch_libraries()
seen["loaded"] = mapped()
seen["torch_imported"] = "torch" in sys.modules
import torch
seen["after_import"] = mapped()
seen["sum"] = float(torch.arange(10.0).sum())
print("RESULT " + json.dumps(seen))
"""


def test_torch_libraries_load_before_torch_and_import_torch_uses_them():
    """The analysis thread loads PyTorch's largest libraries through the C library's dlopen (a ctypes
    foreign call: other threads run meanwhile) before `import torch`, which then finds them loaded: the
    same files, mapped once, and torch works."""
    if not os.path.exists("/proc/self/maps"):
        import pytest
        pytest.skip("reads /proc/self/maps (Linux)")
    out = subprocess.run([sys.executable, "-c", LIBRARIES_CHILD], capture_output=True, text=True, timeout=300)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, out.stderr[-3000:]
    seen = json.loads(line[len("RESULT "):])
    from layerloom.app.analysis_loading import TORCH_LIBRARIES
    assert seen["before"] == [] and not seen["torch_imported"]
    assert sorted(p.rsplit("/", 1)[1] for p in seen["loaded"]) == sorted(TORCH_LIBRARIES)
    assert seen["after_import"] == seen["loaded"]          # import torch mapped no second copy
    assert seen["sum"] == 45.0


def test_a_window_closed_while_its_parts_are_built_builds_no_more_and_stops_those_built(qtbot):
    from layerloom.app.window import MainWindow
    win = MainWindow(restore_settings=False)
    qtbot.addWidget(win)
    win.session.set_document(load_graph(preset_path("lenet5")))
    stopped = []
    steps = []
    original = win._build_next

    def step():
        more = original()
        steps.append(win.built("memory") is not None)
        if len(steps) == 2:
            win.built("memory").shutdown = lambda *a, **k: stopped.append("memory")
            win.close()                      # the person closes the window while the panels load
        return more
    win._build_next = step
    win.show()
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=60_000)
    qtbot.wait(500)                          # turns of the event loop in which a next step would come
    assert len(steps) == 2 and not win.later_built and win.built("benchmarking") is None
    assert stopped == ["memory"]             # the part built by then was shut down with the window
