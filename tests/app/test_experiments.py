"""The Experiment panel: a real sweep started from the panel, the sortable / filterable table, the
parallel-coordinates plot (log axes, pruned trials, brushing that filters the table) and
"Apply best to graph" as one undoable edit."""
from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from layerloom.app.panels.experiments import ExperimentPanel
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.sweeps.spec import parse_section

ROWS = [
    {"number": 0, "state": "complete", "params": {"training.lr": 0.001, "blocks.fc1.params.out_features": 64},
     "value": 0.91, "best_value": 0.91, "best_epoch": 2, "seconds": 5.0, "params_count": 1, "macs": 2},
    {"number": 1, "state": "complete", "params": {"training.lr": 0.01, "blocks.fc1.params.out_features": 128},
     "value": 0.95, "best_value": 0.95, "best_epoch": 3, "seconds": 6.0, "params_count": 1, "macs": 2},
    {"number": 2, "state": "pruned", "params": {"training.lr": 0.5, "blocks.fc1.params.out_features": 64},
     "value": 0.11, "best_value": 0.11, "best_epoch": 1, "seconds": 2.0, "params_count": 1, "macs": 2},
    {"number": 3, "state": "failed", "params": {"training.lr": 0.002, "blocks.fc1.params.out_features": 128},
     "value": None, "best_value": None, "best_epoch": None, "seconds": 1.0, "params_count": None, "macs": None,
     "message": "fc1: broken"},
]


def _spec(doc):
    return parse_section(doc, {"params": {"training.lr": "log:1e-3:1", "blocks.fc1.params.out_features":
                                          "choice:64,128"}, "strategy": "tpe"})


def _visible_numbers(panel):
    p = panel.proxy
    return [p.data(p.index(r, 0)) for r in range(p.rowCount())]


def test_table_sorts_filters_and_follows_the_brush(win):
    win.session.set_document(load_graph(preset_path("lenet5")))
    panel = win.experiments
    spec = _spec(win.document)
    panel.show_results(ROWS, spec)
    assert panel.model.rowCount() == 4
    headers = [panel.model.headerData(c, Qt.Orientation.Horizontal) for c in range(panel.model.columnCount())]
    best_col = headers.index("best")
    panel.view.sortByColumn(best_col, Qt.SortOrder.DescendingOrder)
    assert _visible_numbers(panel) == ["1", "0", "2", "3"]
    panel.view.sortByColumn(best_col, Qt.SortOrder.AscendingOrder)      # val_loss-like: the failed trial stays last
    assert _visible_numbers(panel) == ["2", "0", "1", "3"]
    lr_col = headers.index("training.lr")
    panel.view.sortByColumn(lr_col, Qt.SortOrder.AscendingOrder)
    assert _visible_numbers(panel) == ["0", "3", "1", "2"]
    panel.filter.setText("pruned")
    assert _visible_numbers(panel) == ["2"]
    panel.filter.setText("")

    plot = panel.plot
    assert [a["log"] for a in plot.axes] == [True, False, False]
    # lr axis in log10: 0.001 -> 0, 0.5 -> 1 (range of the drawn trials: failed ones are left out)
    lr = plot.values[:, 0]
    np.testing.assert_allclose(lr, (np.log10([0.001, 0.01, 0.5]) + 3) / (np.log10(0.5) + 3))
    xs, ys = plot.curves["pruned"].getData()
    assert np.isfinite(ys).sum() == 3            # one pruned trial, three axes
    assert plot.curves["pruned"].opts["pen"].style() == Qt.PenStyle.DashLine
    assert np.isfinite(plot.curves["top"].getData()[1]).sum() == 3   # top 10 % of 2 completed: the best one
    plot.set_brush(2, 0.5, 1.0)                    # the objective's upper half: 0.91 and 0.95
    assert sorted(_visible_numbers(panel)) == ["0", "1"]
    plot.clear_brush(2)
    assert len(_visible_numbers(panel)) == 4


def test_apply_best_is_one_undoable_edit(win):
    win.session.set_document(load_graph(preset_path("lenet5")))
    panel = win.experiments
    panel.show_results(ROWS, _spec(win.document))
    before_lr, before_fc1 = win.document.training["lr"], win.document.blocks["fc1"].params["out_features"]
    assert panel.apply_button.isEnabled()
    panel.apply_button.click()
    assert win.document.training["lr"] == 0.01 and win.document.blocks["fc1"].params["out_features"] == 128
    win.undo_stack.undo()
    assert win.document.training["lr"] == before_lr and win.document.blocks["fc1"].params["out_features"] == before_fc1


def test_apply_best_to_a_graph_without_the_swept_block_changes_nothing_and_says_why(win):
    doc = load_graph(preset_path("lenet5"))
    panel = win.experiments
    panel.show_results(ROWS, _spec(doc))
    doc.rename_block("fc1", "dense1")          # the graph on the canvas now is another one (or was edited)
    win.session.set_document(doc)
    lr = doc.training["lr"]
    panel.apply_button.click()
    assert doc.training["lr"] == lr and not win.undo_stack.canUndo()      # not half applied
    assert panel.message.text() == ('Not applied: trial 1\'s values do not fit this graph (blocks.fc1.params.'
                                    'out_features: the graph has no block "fc1"): open the graph the sweep ran on, '
                                    'or set the values by hand')


def test_a_sweep_started_from_the_panel_fills_the_table_and_its_trials_overlay_in_the_runs_tab(win, qtbot, tmp_path):
    doc = load_graph(preset_path("lenet5"))
    doc.training.update({"epochs": 1, "batch_size": 100, "dataset_options": {"train_count": 500}})
    win.session.set_document(doc)
    win.training.set_runs_folder(tmp_path / "runs")
    panel = win.experiments
    panel.load_section({"params": {"training.lr": "choice:0.003,0.01"}, "strategy": "grid", "workers": 2})
    assert panel.start(folder_base=tmp_path)
    assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.running, timeout=240_000)
    # the thread may end before the GUI has handled its last events (sweep_finished carries the final rows)
    qtbot.waitUntil(lambda: panel.message.text().startswith("Sweep finished"), timeout=10_000)
    assert panel.start_button.isEnabled()
    assert [r["state"] for r in panel.rows] == ["complete", "complete"], panel.rows
    assert panel.model.rowCount() == 2 and (tmp_path / "LeNet-5-sweep" / "results.json").exists()
    assert "best: trial " in panel.message.text()
    # selecting both trials overlays their curves in the Runs tab, each named by its values
    panel.view.selectAll()
    runs = win.training.runs
    win.docks["runs"].show()
    win.docks["runs"].raise_()
    assert sorted(map(str, runs.selected_paths())) == sorted(r["run"] for r in panel.rows)
    legend = sorted(runs.legend.item(i).text() for i in range(runs.legend.count()))
    assert legend == sorted(f"trial {r['number']}: lr={r['params']['training.lr']:g}" for r in panel.rows)
    assert sorted(r["params"]["training.lr"] for r in panel.rows) == [0.003, 0.01]
    assert len(runs.acc_plot.listDataItems()) == 2 and "2 sweep trial runs" in runs.folder.text()
    qtbot.wait(100)
    runs.grab().save(str(tmp_path / "runs-trials.png"))


def _right_click(label, monkeypatch) -> list[str]:
    """A real right-click on a parameter's label; the menu's "Sweep this parameter" is chosen."""
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication
    from layerloom.app.panels import sweep_menu
    shown = []

    def choose(menu, where):
        shown.extend(a.text() for a in menu.actions())
        next(a for a in menu.actions() if a.text() == sweep_menu.SWEEP).trigger()
    monkeypatch.setattr(sweep_menu, "run_menu", choose)
    centre = label.rect().center()
    QApplication.sendEvent(label, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre,
                                                    label.mapToGlobal(centre)))
    return shown


def test_sweep_this_parameter_from_the_inspector(win, monkeypatch, qtbot):
    from PySide6.QtWidgets import QLabel
    win.session.set_document(load_graph(preset_path("lenet5")))
    win.inspector.show_block("fc1")
    label = next(w for w in win.inspector.findChildren(QLabel) if w.text() == "out_features")
    assert _right_click(label, monkeypatch) == ["Sweep this parameter"]
    # asked for before the Experiment panel was built (torch still loading, as in the window's first
    # seconds): it is added once the panel is
    qtbot.waitUntil(lambda: win.docks["experiments"].isVisible(), timeout=30_000)
    assert win.experiments.params.toPlainText() == "blocks.fc1.params.out_features=int:60:240:22"
    spec = parse_section(win.document, win.experiments.section())
    assert spec.params["blocks.fc1.params.out_features"].grid_values()[0] == 60


def test_sweep_this_parameter_from_the_training_panel_takes_the_same_path(win, monkeypatch):
    from PySide6.QtWidgets import QLabel
    win.session.set_document(load_graph(preset_path("lenet5")))
    settings = win.training.panel.settings
    settings.lr.setValue(0.02)                     # the value on show, not yet saved in the graph
    settings.batch_size.setValue(32)
    lr_label = settings.findChild(QLabel, "setting-lr")
    assert "right-click: Sweep this parameter" in lr_label.toolTip()
    assert _right_click(lr_label, monkeypatch) == ["Sweep this parameter"]
    assert win.docks["experiments"].isVisible()
    _right_click(settings.findChild(QLabel, "setting-batch_size"), monkeypatch)
    _right_click(settings.findChild(QLabel, "setting-optimizer"), monkeypatch)
    assert win.experiments.params.toPlainText().splitlines() == [
        "training.lr=log:0.002:0.2", "training.batch_size=choice:16,32,64", "training.optimizer=choice:sgd,adam,adamw"]
    spec = parse_section(win.document, win.experiments.section())    # the lines make a valid sweep
    assert spec.params["training.lr"].to_optuna().low == 0.002 and len(spec.params) == 3
    assert settings.findChild(QLabel, "setting-device") is None        # not a setting a sweep varies




def test_closing_the_window_while_a_sweep_runs_asks_first(win, qtbot, tmp_path, dialogs):
    from PySide6.QtWidgets import QMessageBox
    doc = load_graph(preset_path("lenet5"))
    doc.training.update({"epochs": 3, "batch_size": 16, "dataset_options": {"train_count": 2000}})
    win.session.set_document(doc)
    win.training.set_runs_folder(tmp_path / "runs")
    panel = win.experiments
    panel.load_section({"params": {"training.lr": "choice:0.003,0.01"}, "strategy": "grid", "workers": 1})
    assert panel.start(folder_base=tmp_path)
    win.session.undo_stack.setClean()                     # nothing unsaved: only the sweep is asked about
    assert not win.close()                                # Cancel (the default answer): the window stays
    question = dialogs.texts("question")[-1]
    assert question.startswith("Stop the sweep and close Layerloom?") and str(tmp_path / "LeNet-5-sweep") in question
    assert panel.running and win.isVisible()
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    assert win.close()
    assert not panel.running                               # stopped, and waited for


def _axis_texts(plot, axis):
    return sorted((round(item.pos().y(), 3), item.toPlainText()) for item in plot._decor
                  if item.isVisible() and item.pos().x() == axis and item.pos().y() >= 0)


def test_an_axis_where_every_trial_has_one_value_shows_that_value_once(qtbot, tmp_path):
    from layerloom.app.panels.parallel_coords import ParallelCoordinates
    from layerloom.runtime.sweeps.spec import parse_spec
    plot = ParallelCoordinates()
    qtbot.addWidget(plot)
    plot.resize(600, 300)
    rows = [{"number": i, "state": "complete", "value": 0.9, "params": {"training.lr": 0.003, "fc1": 32 * (i + 1)}}
            for i in range(3)]
    plot.set_trials(rows, [("training.lr", parse_spec("log:1e-4:1e-1")), ("fc1", parse_spec("int:32:128:32"))])
    assert _axis_texts(plot, 0) == [(0.5, "all = 0.003")]         # not 0.003 at the bottom and 0.003 at the top
    assert _axis_texts(plot, 1) == [(0.0, "32"), (1.0, "96")]
    assert _axis_texts(plot, 2) == [(0.5, "all = 0.9")]
    assert np.allclose(plot.values[:, 0], 0.5)
    plot.grab().save(str(tmp_path / "one-value.png"))
    for size in ((600, 300), (420, 130)):          # in a short dock too, no title or value is cut off
        plot.resize(*size)
        plot.show()
        qtbot.waitExposed(plot)
        QApplication.processEvents()
        inside = plot.viewport().rect()
        cut = [item.toPlainText() for item in plot._decor if item.isVisible() and not inside.contains(
            plot.mapFromScene(item.mapRectToScene(item.boundingRect())).boundingRect())]
        assert cut == [], (size, cut)
    plot.set_trials([], [("training.lr", parse_spec("log:1e-4:1e-1"))])
    assert _axis_texts(plot, 0) == [] and _axis_texts(plot, 1) == []   # no trial yet: no made-up 0 to 1 scale


def test_the_name_field_starts_a_new_sweep_beside_an_old_one_or_resumes_it(win, qtbot, tmp_path):
    """A sweep of the graph's name exists with other settings: Start used to be refused with no way out but
    deleting its folder. The Name field offers a free name, and takes an existing one to resume it."""
    from PySide6.QtTest import QTest

    from layerloom.runtime.sweeps.study import create_study, open_storage
    from tests.runtime.sweep_helpers import write_graph
    doc = load_graph(write_graph(tmp_path / "g.loom.json"))
    base = tmp_path / "sweeps"
    old = parse_section(doc, {"params": {"training.lr": "choice:0.003,0.01"}})
    create_study(doc, old, open_storage(None, base / old.name))
    assert old.name == "small-sweep"
    win.session.set_document(doc)
    win.docks["experiments"].show()
    win.docks["experiments"].raise_()
    panel = win.experiments
    panel.sweeps_base = base
    panel.suggest_name(reset=True)
    # every trial fails by analysis (a 40x40 kernel on a 28x28 image): a sweep without a training process
    panel.load_section({"params": {"blocks.conv1.params.kernel_size": "choice:40"}, "trials": 1})
    assert panel.name.text() == "small-sweep-2" and panel.name_note.text().startswith("a new sweep in")
    assert panel.name_note.text().endswith("(small-sweep exists: type its name to resume it)")
    assert panel.name_note.textFormat() == Qt.TextFormat.PlainText      # a folder named <b>.. shows as it is

    def start_and_wait(name):
        panel.name.selectAll()
        QTest.keyClicks(panel.name, name)
        QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
        qtbot.waitUntil(lambda: panel.message.text().startswith("Sweep finished"), timeout=10_000)

    start_and_wait("small-sweep-2")
    assert panel.message.text().startswith("Sweep finished") and (base / "small-sweep-2" / "results.json").exists()
    assert panel.runner.study.study_name == "small-sweep-2" and len(panel.rows) == 1
    assert panel.name.text() == "small-sweep-3"          # the next Start begins another sweep
    panel.grab().save(str(tmp_path / "experiments-name.png"))

    panel.name.selectAll()
    QTest.keyClicks(panel.name, "small-sweep")           # the old sweep, with other settings: refused, and why
    assert panel.name_note.text().startswith("resumes the sweep in")
    QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert not panel.running and "type another name in Name" in panel.message.text()

    start_and_wait("small-sweep-2")                      # resumed on purpose: its one trial was the budget
    assert panel.runner.study.study_name == "small-sweep-2" and len(panel.runner.study.trials) == 1

    panel.name.selectAll()
    QTest.keyClicks(panel.name, "///")
    assert "letters or digits" in panel.name_note.text()
    QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert not panel.running and panel.message.text().startswith("Name must be a short name")
    assert sorted(p.name for p in base.iterdir()) == ["small-sweep", "small-sweep-2"]


def test_stop_pressed_again_aborts_trials_that_do_not_stop(qtbot, tmp_path, monkeypatch):
    from layerloom.app.panels.experiments import ExperimentPanel
    from layerloom.runtime.sweeps import trial
    from tests.runtime.sweep_helpers import write_graph, write_stuck_trial
    monkeypatch.setattr(trial, "TRAIN", [str(write_stuck_trial(tmp_path / "stuck.py"))])
    doc = load_graph(write_graph(tmp_path / "g.loom.json"))
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.load_section({"params": {"training.lr": "choice:0.003"}})
    assert panel.start(doc, folder_base=tmp_path / "sweeps")
    qtbot.waitUntil(lambda: any(r["state"] == "running" for r in panel.rows), timeout=30_000)
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert panel.stop_button.text() == "■ Abort now" and "Abort now ends them at once" in panel.message.text()
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)   # the trial ignored the stop: end it now
    qtbot.waitUntil(lambda: not panel.running, timeout=30_000)
    qtbot.waitUntil(lambda: panel.message.text().startswith("Sweep stopped"), timeout=10_000)
    assert panel.stop_button.text() == "■ Stop"
    assert [r["state"] for r in panel.rows] == ["failed", "waiting"] and panel.rows[0]["message"].startswith("aborted")


def test_a_bad_parameters_line_is_named_as_the_panel_shows_it(qtbot, tmp_path):
    from layerloom.app.panels.experiments import ExperimentPanel
    from tests.runtime.sweep_helpers import write_graph
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    panel.show()
    doc = load_graph(write_graph(tmp_path / "g.loom.json"))
    qtbot.keyClicks(panel.params, "training.lr")
    assert not panel.start(doc, folder_base=tmp_path)
    assert panel.message.text() == "Parameters: 'training.lr': write PATH=SPEC, e.g. training.lr=log:1e-4:1e-1"
    panel.params.setPlainText("training.lr=log:1e-4:1e-1\ntraining.lr=choice:0.01")
    assert not panel.start(doc, folder_base=tmp_path)
    assert panel.message.text() == ("Parameters: training.lr is given twice (log:1e-4:1e-1 and choice:0.01): keep "
                                    "one of them")
    assert not panel.running and not any(tmp_path.glob("*-sweep"))


def test_a_sweep_folder_that_cannot_be_written_or_a_sweep_that_dies_is_said_in_the_panel(qtbot, tmp_path,
                                                                                        monkeypatch):
    from layerloom.app.panels.experiments import ExperimentPanel
    from layerloom.runtime.sweeps.coordinator import SweepRunner
    from tests.runtime.sweep_helpers import write_graph
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    doc = load_graph(write_graph(tmp_path / "g.loom.json"))
    panel.load_section({"params": {"training.lr": "choice:0.003"}})
    (tmp_path / "file").write_text("")                 # a file where the sweeps folder would go
    assert not panel.start(doc, folder_base=tmp_path / "file" / "sweeps")      # not an exception out of a click
    assert panel.message.text().startswith("The sweep was not started: cannot use ") and not panel.running
    assert panel.message.text().endswith("save the graph where you can write.")

    def full_disk(runner):
        raise OSError(28, "No space left on device", str(runner.folder / "results.json"))
    monkeypatch.setattr(SweepRunner, "run", full_disk)
    assert panel.start(doc, folder_base=tmp_path / "sweeps")
    qtbot.waitUntil(lambda: panel.message.text().startswith("The sweep ended early"), timeout=10_000)
    assert "results.json" in panel.message.text() and panel.start_button.isEnabled() and not panel.running


def test_an_earlier_sweep_named_in_the_panel_shows_its_results_after_a_restart(win, qtbot, tmp_path):
    """A new window (a restart) showed nothing of a sweep already run until Start resumed it: typing its name
    now shows its trials, read in the background from its folder."""
    from PySide6.QtTest import QTest

    from tests.runtime.sweep_helpers import write_graph
    doc = load_graph(write_graph(tmp_path / "g.loom.json"))
    base = tmp_path / "sweeps"
    win.session.set_document(doc)
    panel = win.experiments
    panel.sweeps_base = base
    panel.load_section({"params": {"blocks.conv1.params.kernel_size": "choice:40"}, "trials": 1})
    assert panel.start(doc)
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
    rows = json.loads((base / panel.spec.name / "results.json").read_text())
    assert len(rows) == 1

    fresh = ExperimentPanel()                      # as the window after a restart has it
    qtbot.addWidget(fresh)
    fresh.sweeps_base = base
    assert fresh.model.rowCount() == 0
    fresh.name.setFocus()
    QTest.keyClicks(fresh.name, panel.spec.name)
    assert fresh.earlier.wait()
    assert fresh.model.rowCount() == 1 and fresh.rows == rows and fresh.spec.params == panel.spec.params
    assert fresh.message.text().startswith(f"Sweep {panel.spec.name}: 1 trial so far, 0 complete.")
    assert parse_section(doc, fresh.section()).to_section() == panel.spec.to_section()   # its settings, to resume
    fresh.shutdown()
    # results.json edited or damaged: the trials come from the sweep's journal all the same
    (base / panel.spec.name / "results.json").write_text('[1, {"number": "x"}, null]', encoding="utf-8")
    again = ExperimentPanel()
    qtbot.addWidget(again)
    again.sweeps_base = base
    again.name.setFocus()
    QTest.keyClicks(again.name, panel.spec.name)
    assert again.earlier.wait()
    assert again.rows == rows and again.model.rowCount() == 1
    again.shutdown()


def test_a_sweep_without_its_data_set_is_refused_in_the_panel_and_leaves_nothing(qtbot, tmp_path):
    doc = load_graph(preset_path("lenet5"))
    doc.training.update({"dataset": "image-folder", "dataset_options": {"path": str(tmp_path / "photos")},
                         "epochs": 1})
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    panel.sweeps_base = tmp_path / "sweeps"
    panel.session = type("S", (), {"document": doc, "path": None})()
    panel.load_section({"params": {"training.lr": "choice:0.003,0.01"}, "strategy": "grid"})
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.running and "not started" in panel.message.text(), timeout=60_000)
    text = panel.message.text()
    assert text.startswith("The sweep was not started: ") and str(tmp_path / "photos") in text, text
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled() and panel.rows == []
    assert not (tmp_path / "sweeps").exists() or list((tmp_path / "sweeps").iterdir()) == []
    panel.resize(900, 300)
    panel.grab().save(str(tmp_path / "refused.png"))


def _recorded(widget, method, log):
    real = getattr(widget, method)
    setattr(widget, method, lambda value: (log.append(value), real(value))[1])


def test_a_refused_sweep_never_shows_as_running(qtbot, tmp_path):
    """Its data set is checked in the sweep's thread: until that passes the panel says it is checking, offers no
    Pause, and never shows the sweep's plan (the words of a running sweep)."""
    doc = load_graph(preset_path("lenet5"))
    doc.training.update({"dataset": "image-folder", "dataset_options": {"path": str(tmp_path / "photos")}})
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    panel.sweeps_base = tmp_path / "sweeps"
    panel.session = type("S", (), {"document": doc, "path": None})()
    panel.load_section({"params": {"training.lr": "choice:0.003,0.01"}, "strategy": "grid"})
    messages, pause = [], []
    _recorded(panel.message, "setText", messages)
    _recorded(panel.pause_button, "setEnabled", pause)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.message.text() == f"Sweep {panel.spec.name}: checking its data set before the first trial…"
    qtbot.waitUntil(lambda: not panel.running and "not started" in panel.message.text(), timeout=60_000)
    assert not any("at once" in m for m in messages), messages
    assert True not in pause and not panel.pause_button.isEnabled()


def test_more_workers_than_cores_are_noted_when_the_sweep_starts(qtbot, tmp_path, monkeypatch):
    from layerloom.runtime.sweeps import coordinator
    monkeypatch.setattr(coordinator, "available_cores", lambda: 2)

    def run(self):             # no trial: the panel's part is what it says once the data set loads
        self._emit({"type": "sweep_started"})
        self._emit({"type": "sweep_finished", "stopped": True, "results": []})
        return []
    monkeypatch.setattr(coordinator.SweepRunner, "run", run)
    doc = load_graph(preset_path("lenet5"))
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    panel.sweeps_base = tmp_path / "sweeps"
    panel.session = type("S", (), {"document": doc, "path": None})()
    panel.load_section({"params": {"training.lr": "log:1e-3:1e-1"}, "trials": 200, "workers": 100})
    assert panel.workers.value() == 100             # what the CLI accepts (a section's 100 was cut to 64)
    messages = []
    _recorded(panel.message, "setText", messages)
    assert panel.start()
    qtbot.waitUntil(lambda: not panel.running and panel.message.text().startswith("Sweep stopped"), timeout=10_000)
    started = [m for m in messages if "at once" in m]
    assert len(started) == 1 and started[0].endswith(
        ". Note: 100 trials at once on 2 cores: they take turns on the cores, so the sweep is no faster than with 2 "
        "at once, and each trial process holds its own PyTorch and data set in memory; set Workers to 2 or fewer."), \
        started


def test_the_trials_picked_in_the_table_stay_picked_when_a_running_sweep_refreshes_it(qtbot):
    doc = load_graph(preset_path("lenet5"))
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    spec = _spec(doc)
    panel.show_results(ROWS[:3], spec)
    panel.view.selectRow(1)
    picked = panel.table.selected_numbers()
    running = {**ROWS[3], "number": 4, "state": "running", "value": None}
    panel.show_results(ROWS[:3] + [running], spec)          # a trial started: the table is filled again
    assert panel.table.selected_numbers() == picked and len(picked) == 1
    panel.show_results(ROWS, spec)
    assert panel.table.selected_numbers() == picked


def test_a_sweep_stopped_while_its_data_set_is_checked_never_shows_its_plan(qtbot, tmp_path, monkeypatch):
    import threading
    from layerloom.runtime.sweeps import coordinator
    checked = threading.Event()

    def run(self):             # the data set loads only after Stop was pressed; then the loop sees the stop
        checked.wait(10)
        self._emit({"type": "sweep_started"})
        self._emit({"type": "sweep_finished", "stopped": self._stop.is_set(), "results": []})
        return []
    monkeypatch.setattr(coordinator.SweepRunner, "run", run)
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    panel.sweeps_base = tmp_path / "sweeps"
    panel.session = type("S", (), {"document": load_graph(preset_path("lenet5")), "path": None})()
    panel.load_section({"params": {"training.lr": "choice:0.003,0.01"}, "strategy": "grid"})
    messages = []
    _recorded(panel.message, "setText", messages)
    assert panel.start()
    panel.stop()
    assert panel.message.text().startswith("Stopping: the sweep ends as soon as its data set is checked")
    checked.set()
    qtbot.waitUntil(lambda: not panel.running and panel.message.text().startswith("Sweep stopped"), timeout=10_000)
    assert not any("at once" in m for m in messages), messages
    assert panel.start_button.isEnabled() and not panel.pause_button.isEnabled()
