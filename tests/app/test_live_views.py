"""The live views' model and pieces: event buffers, progress, channel mosaics, the runs list."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from layerloom.runtime.live import LiveRun, format_duration
from layerloom.app.panels.feature_maps import mosaic, square_grid
from layerloom.app.panels.runs import COLUMNS, RunsPanel
from layerloom.app.plot_style import StickyRange, nice_ceiling
from layerloom.graph import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.trainer import Trainer
from .helpers import close_without_questions, mlp_runs


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def started(total=1000, epochs=4):
    return {"type": "started", "total_steps": total, "start_step": 0, "epochs": epochs, "config": {"lr": 0.01}}


def step(i, loss, epoch=1):
    return {"type": "step", "step": i, "epoch": epoch, "epoch_progress": i / 250, "total_steps": 1000,
            "loss": loss, "lr": 0.01, "samples_per_s": 5000.0}


def test_live_run_buffers_grow_and_smooth_and_say_what_changed():
    live = LiveRun()
    assert live.apply(started()) >= {"curves", "progress", "started"}
    for i in range(1, 3001):                              # past the first capacity: buffers double
        assert live.apply(step(i, 2.0 if i % 2 else 0.0)) == {"curves", "progress"}
    assert len(live.steps) == 3000 and live.steps.col("step")[-1] == 3000
    smooth = live.steps.col("smooth")
    assert smooth[0] == pytest.approx(2.0)                # debiased: the first value is the first loss
    assert abs(smooth[-1] - 1.0) < 0.3                    # and it settles on the mean of a noisy loss
    assert live.apply({"type": "feature_maps", "block": "conv1", "kind": "vector"}) == {"maps"}
    assert live.apply({"type": "checkpoint", "path": "x", "step": 3001}) == {"progress"} and live.step == 3001


def test_progress_and_eta_leave_out_pauses():
    clock = Clock()
    live = LiveRun(clock)
    live.apply(started(total=1000))
    clock.t += 10
    live.apply(step(250, 1.0))
    assert live.eta() == pytest.approx(30.0)              # 250 steps in 10 s, 750 to go
    live.apply({"type": "paused", "step": 250})
    clock.t += 1000                                        # a long coffee break
    live.apply({"type": "resumed", "step": 250})
    assert live.eta() == pytest.approx(30.0)
    assert live.progress_text() == "Epoch 1/4 · step 250/1,000 · 5,000 samples/s · ETA 0:30"
    live.apply({"type": "failed", "message": "boom", "step": 250})
    assert live.state == "failed" and live.message == "boom" and "failed in 0:10" in live.progress_text()
    assert format_duration(3725) == "1:02:05" and format_duration(None) == "–"


def test_mosaic_tiles_channels_with_background_seams():
    maps = np.arange(1, 7, dtype=np.uint8).reshape(6, 1, 1).repeat(4, 1).repeat(5, 2)   # 6 channels of 4×5
    img = mosaic(maps, aspect=1.5)
    rows, cols = 2, 3
    assert img.shape == (rows * 5 - 1, cols * 6 - 1)
    assert img[0, 0] == 1 and img[0, 6] == 2 and img[5, 0] == 4       # row-major channel order
    assert (img[4, :] == 0).all() and (img[:, 5] == 0).all()            # seams are the background entry
    assert mosaic(np.zeros((3, 2, 2), np.uint8)).min() == 0 and mosaic(np.zeros((3, 2, 2), np.uint8)).max() == 1
    assert square_grid(np.full(10, 200, np.uint8)).shape == (3, 4)


def test_sticky_ranges_change_only_when_the_data_leaves_them():
    r = StickyRange()
    assert r.update(0.0, 2.3) == (0.0, 2.5)
    assert r.update(0.0, 2.1) is None and r.update(0.0, 1.0) is None     # a falling loss keeps its axis
    assert r.update(0.0, 0.5) == (0.0, 0.6)                                # until it is a small part of it
    assert nice_ceiling(0.0031) == pytest.approx(0.004) and nice_ceiling(97) == 100


def test_runs_list_shows_runs_from_the_cli_and_overlays_the_selected(qtbot, tmp_path):
    runs = tmp_path / "runs"
    mlp_runs(runs)
    panel = RunsPanel(runs)
    qtbot.addWidget(panel)
    assert panel.tree.topLevelItemCount() == 2
    item = panel.tree.topLevelItem(0)
    assert item.text(1) == "MLP 784-128-10" and item.text(3) == "2" and item.text(COLUMNS.index("Status")) == "finished"
    assert item.text(4).endswith("%")
    panel.tree.selectAll()
    # Hidden (the Runs tab behind another), the panel leaves its curves until it is shown
    assert panel.acc_plot.listDataItems() == [] and panel.legend.count() == 0
    assert "lr" in panel.details.toPlainText()          # the details are read at once
    panel.show()
    assert len(panel.acc_plot.listDataItems()) == 2 and len(panel.loss_plot.listDataItems()) == 4
    assert panel.legend.count() == 2
    panel.tree.clearSelection()
    panel.tree.topLevelItem(1).setSelected(True)
    chosen = panel.selected_paths()
    assert "lr" in panel.details.toPlainText() and "finished, " in panel.details.toPlainText()
    (runs / "not-a-run").mkdir()
    Trainer(load_graph(preset_path("mlp")), {"epochs": 1, "max_steps": 3}, None, runs_base=runs).run()
    qtbot.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)
    assert panel.tree.topLevelItemCount() == 3 and panel.selected_paths() == chosen   # the selection stays


def test_empty_curves_show_a_sentence_instead_of_axes(qtbot):
    from layerloom.app.panels.live_plots import LivePlots
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(700, 300)
    plots.show()
    assert plots.placeholder.isVisible() and not plots.graphics.isVisible()
    live = LiveRun()
    live.apply(started())
    plots.start(live)
    assert plots.graphics.isVisible() and not plots.placeholder.isVisible()
    x_range = plots.loss_plot.getViewBox().viewRange()[0]
    assert x_range[0] < 1 and 990 < x_range[1] < 1100       # the whole planned run, not −400…400


def test_the_probe_and_prediction_box_shows_only_once_a_run_has_a_probe(qtbot):
    from layerloom.app.panels.feature_maps import FeatureMapsPanel
    maps = FeatureMapsPanel()
    qtbot.addWidget(maps)
    maps.show()
    assert not maps.side.isVisible()                  # before any run: no empty box under the sentence
    maps.set_run_info([str(i) for i in range(10)], (), np.zeros((1, 28, 28), np.uint8), 3, 0)
    assert maps.side.isVisible() and maps.probe_plot.isVisible()
    maps.set_run_info([])                             # another graph: the last run's probe is gone
    assert not maps.side.isVisible()


def test_the_feature_maps_note_follows_the_wiring(qtbot):
    from layerloom.app import edits
    from layerloom.app.window import MainWindow
    w = MainWindow(restore_settings=False)
    qtbot.addWidget(w, before_close_func=close_without_questions)
    w.files.open_preset(preset_path("lenet5"))
    edges = w.document.edges_into("output")
    assert edits.delete(w.session, edges=edges)
    w.session.flush()
    w.focus_block("output")
    maps = w.training.maps
    assert maps.hint.text() == "output has no input wired."
    w.session.undo_stack.undo()
    w.session.flush()
    assert w.document.edges_into("output") and maps.hint.text() != "output has no input wired."


def test_runs_list_compares_training_health_and_its_legend_sits_beside_the_curves(qtbot, tmp_path):
    from layerloom.runtime.health import HealthCollector
    runs = tmp_path / "runs"
    for lr in (0.001, 10.0):
        Trainer(load_graph(preset_path("mlp")), {"epochs": 2, "lr": lr, "optimizer": "adam", "batch_size": 50,
                                                 "dataset_options": {"train_count": 200}}, None,
                runs_base=runs, extensions=[HealthCollector(every=3)]).run()
    Trainer(load_graph(preset_path("mlp")), {"epochs": 1, "max_steps": 2}, None, runs_base=runs).run()   # no health
    panel = RunsPanel(runs)
    qtbot.addWidget(panel)
    panel.resize(1100, 360)
    panel.show()
    by_lr = {panel.runs[i].config["lr"]: panel.tree.topLevelItem(i) for i in range(3) if panel.runs[i].config.get("lr")}
    col = COLUMNS.index("Health")
    calm, wild = by_lr[0.001], by_lr[10.0]
    assert wild.text(col).startswith("✕") and "update ratio" in wild.text(col)
    assert "exploding" in wild.toolTip(col) and "Update ratio:" in wild.toolTip(col)
    assert not calm.text(col).startswith("✕"), calm.toolTip(col)
    plain = next(panel.tree.topLevelItem(i) for i in range(3) if panel.tree.topLevelItem(i) not in (calm, wild))
    assert plain.text(col) == "–"
    calm.setSelected(True)
    wild.setSelected(True)
    qtbot.wait(100)
    # the legend lists both runs (what differs between them) in a list beside the plots, not over them
    assert [panel.legend.item(i).text() for i in range(panel.legend.count())] == ["lr=0.001", "lr=10.0"]
    assert panel.legend.isVisible() and not panel.legend.geometry().intersects(panel.graphics.geometry())
    panel.grab().save(str(tmp_path / "runs-health.png"))
    panel.tree.clearSelection()
    wild.setSelected(True)
    assert "health" in panel.details.toPlainText() and "exploding" in panel.details.toPlainText()


def test_confusion_tab_shows_a_sentence_until_the_first_epoch(qtbot):
    from layerloom.app.panels.epoch_views import EpochViews
    views = EpochViews()
    qtbot.addWidget(views)
    views.resize(600, 300)
    views.show()
    views.start(["a", "b", "c"])
    assert views.waiting.isVisible() and not views.graphics.isVisible()
    conf = np.array([[3, 1, 0], [0, 4, 0], [1, 0, 2]])
    views.show_epoch({"epoch": 1, "val_accuracy": 9 / 11, "val_loss": 0.5, "confusion": conf,
                      "per_class_accuracy": conf.diagonal() / conf.sum(axis=1),
                      "val_predictions": np.array([0, 1]), "val_labels": np.array([0, 2])})
    assert views.graphics.isVisible() and not views.waiting.isVisible()
    assert views.conf_plot.getViewBox().viewRange()[0] == pytest.approx([0, 3])    # the classes, not −400…400
    views.start(["a", "b"])                                         # a new run starts empty again
    assert views.waiting.isVisible()


def health(step_no, grads):
    blocks = {b: {"grad_rms": g, "param_grad_norm": 1.0} for b, g in grads.items()}
    blocks["relu1"] = {"grad_rms": 0.5}                 # a block without weights: not a row of the strip
    return {"type": "health", "step": step_no, "blocks": blocks, "problems": [], "new_problems": [],
            "indicators": []}


def test_health_samples_build_a_blocks_by_steps_table_and_a_strip_under_the_curves(qtbot, monkeypatch):
    import layerloom.runtime.live as live_module
    from layerloom.app.panels.live_plots import LivePlots
    monkeypatch.setattr(live_module, "HEALTH_SAMPLES", 3)
    live = LiveRun()
    live.apply(started())
    live.apply(step(1, 2.0))
    live.apply(health(1, {"conv1": 1e-2, "fc1": 1e-4}))
    live.apply(health(51, {"conv1": 1e-3, "fc1": 1e-5, "fc2": 1e-1}))      # fc2 measured from here on
    assert live.health_steps == [1, 51] and "relu1" not in live.health_grad
    assert live.health_grad["conv1"] == [1e-2, 1e-3] and np.isnan(live.health_grad["fc2"][0])
    for s in (101, 151):
        live.apply(health(s, {"conv1": 1e-3, "fc1": 1e-5, "fc2": 1e-1}))
    assert live.health_steps == [51, 101, 151] and len(live.health_grad["fc1"]) == 3      # the latest kept

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(800, 500)
    plots.show()
    plots.start(live)
    assert "Gradient RMS per layer" in plots.heat_plot.titleLabel.text and not plots.heat_note.isVisible()
    image = plots.heat_image.image
    assert image.shape == (3, 3)                                   # blocks × samples
    logs = np.log10([[1e-3] * 3, [1e-5] * 3, [1e-1] * 3])            # conv1, fc1, fc2 rows
    np.testing.assert_allclose(image, (logs - logs.min()) / (logs.max() - logs.min()), rtol=1e-6)
    rect = plots.heat_image.mapRectToParent(plots.heat_image.boundingRect())
    assert rect.left() == pytest.approx(26) and rect.right() == pytest.approx(176)   # centred on steps 51…151
    names = [name for _, name in plots.heat_plot.getAxis("left")._tickLevels[0]]
    assert names == ["conv1", "fc1", "fc2"]
    live.apply(started())                                           # a new run starts with an empty strip
    plots.start(live)
    assert plots.heat_image.image is None and live.health_steps == []
    assert plots.heat_note.isVisible() and plots.heat_note.text().startswith("No health sample yet")
    assert "Gradient RMS per layer" in plots.heat_plot.titleLabel.text       # the same title: no new layout


def test_class_names_that_start_alike_read_apart_in_the_live_views(qtbot, tmp_path):
    from layerloom.app.panels.epoch_views import EpochViews
    from layerloom.app.panels.feature_maps import FeatureMapsPanel
    names = [f"handwritten digit {i}" for i in range(4)]
    maps = FeatureMapsPanel()
    qtbot.addWidget(maps)
    maps.resize(700, 360)
    maps.show()
    maps.set_run_info(names, (), np.zeros((1, 28, 28), np.uint8), 3, 0)
    maps.set_prediction(np.array([0.1, 0.2, 0.3, 0.4]))
    shown = [text.rsplit("  ", 1)[0] for _, _, text, _ in maps.prob_labels.labels]
    assert len(set(shown)) == 4 and all(len(t) <= 12 and "…" in t for t in shown), shown   # not 4 × "handwritten "
    maps.grab().save(str(tmp_path / "maps-names.png"))
    views = EpochViews()
    qtbot.addWidget(views)
    views.resize(600, 300)
    views.show()
    views.start(names)
    conf = np.eye(4, dtype=int) * 3
    views.show_epoch({"epoch": 1, "val_accuracy": 1.0, "val_loss": 0.1, "confusion": conf,
                      "per_class_accuracy": np.ones(4), "val_predictions": np.array([0]), "val_labels": np.array([0])})
    ticks = [t for _, t in views.conf_plot.getAxis("left")._tickLevels[0]]
    assert len(set(ticks)) == 4 and all(len(t) <= 8 for t in ticks), ticks
    from PySide6.QtGui import QFontMetrics
    left = views.conf_plot.getAxis("left")
    widest = max(QFontMetrics(left.style["tickFont"] or views.font()).horizontalAdvance(t) for t in ticks)
    assert left.width() > widest                      # the true classes' names fit beside the matrix, so they show
    views.grab().save(str(tmp_path / "confusion-names.png"))


def test_the_input_block_in_feature_maps_says_it_is_the_data_not_that_it_waits(qtbot):
    """Clicking the Input block showed "Start training to see what input computes", then during a run "Waiting for
    input's activations…" for ever: the input is the data, which no block computes and no tap captures."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from layerloom.app.window import MainWindow

    from .helpers import block_point
    w = MainWindow(restore_settings=False)
    qtbot.addWidget(w, before_close_func=close_without_questions)
    w.resize(1400, 900)
    w.show()
    w.files.open_preset(preset_path("lenet5"))
    QTest.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(w, "input"))
    maps = w.training.maps
    assert w.scene.selected_block_ids() == ["input"]
    assert maps.hint.text() == ("input is the data itself: no layer computes it. Click a layer to see what it "
                                "computes for the probe sample.")
    assert "input" not in w.training.training.taps.blocks
    QTest.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(w, "conv1"))
    assert maps.block == "conv1" and "Start training" in maps.hint.text()
