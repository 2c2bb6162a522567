"""Training in the window, driven as a person would: pick settings, press Start, watch, pause, stop."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import shiboken6
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtTest import QTest
from tensorboard.backend.event_processing import event_accumulator
from PySide6.QtWidgets import QApplication, QMessageBox

from layerloom.app import edits
from layerloom.app.docks import in_sight
from layerloom.app.training.controller import RunState
from layerloom.app.panels.runs import STATUS
from layerloom.graph import load_graph
from layerloom.graph.document import GraphDocument
from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import latest_checkpoint, load_checkpoint
from layerloom.runtime.runs import read_json, read_metrics

from ..pause_probe import CountedPause
from .helpers import block_point, points, settings, settle_layouts, wait_run_end

LEFT = Qt.MouseButton.LeftButton


def test_each_run_shows_its_feature_maps_from_its_first_step(win, ui, qtbot):
    """Captures come once a second (an hour here), and naming the same taps again captures nothing: a new run
    still captures at its first step, however recent the last run's last capture was."""
    settings(ui, epochs=1, batch_size=64)
    ui.training.taps.interval = 3600.0
    steps = []
    ui.training.event.connect(lambda e: e.get("type") == "feature_maps" and steps.append(e["step"]))
    for _ in range(2):
        steps.clear()
        qtbot.mouseClick(ui.panel.start, LEFT)
        wait_run_end(ui, qtbot)
        assert ui.live.state == "finished" and steps and steps[0] == 1


def test_training_streams_curves_feature_maps_and_epoch_results(win, ui, qtbot, tmp_path):
    QTest.mouseClick(win.view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, block_point(win, "conv1"))
    assert ui.maps.block == "conv1" and "Start training" in ui.maps.hint.text()
    settings(ui, epochs=1, batch_size=64)
    ui.training.taps.interval = 0.1            # several captures within this short run
    captures = []                              # conv1's captures as the trainer sent them
    ui.training.event.connect(lambda e: e.get("type") == "feature_maps" and e["block"] == "conv1"
                              and captures.append(e))
    qtbot.mouseClick(ui.panel.start, LEFT)
    assert win.document.locked and not ui.panel.start.isEnabled()
    qtbot.waitUntil(lambda: points(ui.plots.raw) >= 3, timeout=30_000)     # curve points arrive
    qtbot.waitUntil(lambda: ui.maps.current is not None, timeout=30_000)
    assert ui.maps.mode == "image" and "6 channels of 28×28" in ui.maps.title.text()
    wait_run_end(ui, qtbot)
    # However fast the run went, the panel ends on the capture of the epoch's last step, and that
    # differs from the first step's: the maps change as it trains.
    assert len(captures) >= 2 and ui.maps.current is captures[-1]
    assert not np.array_equal(captures[0]["maps"], captures[-1]["maps"]), "the feature maps did not change"
    assert ui.live.state == "finished" and win.document.locked is None
    assert points(ui.plots.val_loss) == 1 and points(ui.plots.accuracy) == 1
    assert ui.maps.prob_bars.opts["width"].sum() == pytest.approx(1.0, abs=0.2)        # top-5 probabilities
    assert ui.epochs.conf_image.image.shape == (10, 10)
    assert "wrong of 32" in ui.epochs.tabs.tabText(1)
    marks = ui.epochs.grid.marks
    assert len(marks) == 32 and marks.count("right") > 16                      # one epoch of LeNet-5 learns
    assert "Run finished" in ui.panel.message.text()
    assert ui.panel.progress_text.text().split("<br>")[1] == "Threads: 1 (set by LAYERLOOM_THREADS)"   # tests fix it
    run = ui.training.last_run_dir
    assert [ui.runs.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(ui.runs.tree.topLevelItemCount())] == [run]
    # The Runs tab sits behind Curves (Qt keeps it "visible" and moves it out of the window): it draws
    # the finished run's curves when it comes to the front, not as the run ends
    assert in_sight(ui.plots) and not in_sight(ui.runs) and ui.runs.isVisible()
    assert ui.runs.acc_plot.listDataItems() == []
    ui.runs_dock.raise_()
    qtbot.waitUntil(lambda: len(ui.runs.acc_plot.listDataItems()) == 1, timeout=5000)
    assert in_sight(ui.runs) and not in_sight(ui.plots)
    assert win.document.training["epochs"] == 1                                    # the settings went into the graph
    accumulator = event_accumulator.EventAccumulator(str(Path(run) / "tensorboard"))    # TensorBoard's own reader
    accumulator.Reload()
    rows = read_metrics(run)
    assert [(e.step, round(e.value, 4)) for e in accumulator.Scalars("accuracy/val")] == \
        [(r["step"], round(r["val_accuracy"], 4)) for r in rows]


def test_the_panel_shows_the_thread_count_the_run_measured(win, ui, qtbot, monkeypatch):
    monkeypatch.delenv("LAYERLOOM_THREADS")             # the run chooses by timing its first steps
    settings(ui, epochs=1, batch_size=64)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    choices = read_json(Path(ui.training.last_run_dir) / "threads.json")["choices"]
    line = ui.panel.progress_text.text().split("<br>")[1]
    # A re-check that keeps the same count is recorded in threads.json but announces nothing: the panel
    # shows the last choice that was announced (the first, or one that changed the count).
    announced, previous = [], None
    for choice in choices:
        if choice["reason"] == "start" or choice["threads"] != previous:
            announced.append(choice)
        previous = choice["threads"]
    last = announced[-1]
    assert line.startswith(f"Threads: {last['threads']} (chosen by measuring")
    for n, ms in last["timings_ms"].items():               # each count tried, with its measured step time
        assert f"{n} thread{'s' if n != '1' else ''} {ms:.1f} ms" in line


def test_pause_change_lr_resume_and_stop(win, ui, qtbot):
    settings(ui, epochs=50, batch_size=16, optimizer="sgd", lr=0.01)
    qtbot.mouseClick(ui.panel.start, LEFT)
    ui.training.trainer._running = flag = CountedPause()      # the run/pause flag, counting paused wake-ups
    qtbot.waitUntil(lambda: ui.live.step >= 5, timeout=30_000)
    qtbot.mouseClick(ui.panel.pause, LEFT)
    qtbot.waitUntil(lambda: ui.run.state == RunState.PAUSED, timeout=10_000)
    assert ui.panel.pause.text() == "Resume" and ui.live.state == "paused" and ui.panel.settings.lr.isEnabled()
    assert not ui.panel.settings.batch_size.isEnabled()
    at = ui.live.step
    assert flag.wait_for_wakeups(3)                   # the trainer looked three times and stayed paused
    QApplication.processEvents()
    assert ui.live.step == at and ui.run.state == RunState.PAUSED        # nothing moves while paused
    ui.panel.settings.lr.setValue(0.05)
    assert "0.05 when you resume" in ui.panel.message.text()
    qtbot.mouseClick(ui.panel.pause, LEFT)
    qtbot.waitUntil(lambda: ui.live.step > at + 3 and ui.live.lr == pytest.approx(0.05), timeout=30_000)
    assert ui.run.state == RunState.RUNNING and "Paused" not in ui.panel.message.text()
    qtbot.mouseClick(ui.panel.stop, LEFT)
    wait_run_end(ui, qtbot)
    assert ui.run.state == RunState.STOPPED and ui.live.summary["status"] == "stopped"
    # the moment the run has ended, every text is final: no "Stopping…", no "read-only"
    assert "stopped in" in ui.panel.progress_text.text() and "stopped in" in ui.status_text.text()
    assert "Run stopped" in ui.panel.message.text() and "read-only" not in ui.status_text.text()
    ckpt = load_checkpoint(latest_checkpoint(ui.training.last_run_dir))
    assert ckpt.meta["step"] == ui.live.step == ui.live.summary["steps"] and "conv1.weight" in ckpt.weights
    assert ui.panel.start.isEnabled() and ui.panel.settings.batch_size.isEnabled()
    # the paused change applied to that run only: the next run starts from the graph's learning rate
    assert ui.panel.settings.lr.value() == pytest.approx(0.01) and win.document.training["lr"] == 0.01


def test_the_graph_is_read_only_while_training(win, ui, qtbot):
    settings(ui, epochs=50, batch_size=16)
    messages = []
    win.session.message.connect(messages.append)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 2, timeout=30_000)
    refused = edits.add_block(win.session, "ReLU", (0, 0))
    assert not refused and "read-only while it trains" in refused.reason
    assert "read-only while it trains" in edits.set_param(win.session, "fc3", "out_features", 7).reason
    assert "read-only while it trains" in edits.rename(win.session, "fc3", "head").reason   # not "id taken"
    assert "relu5" not in win.document.blocks and win.document.blocks["fc3"].params["out_features"] == 10
    assert any("read-only while it trains" in m for m in messages), messages
    QTest.mouseClick(win.view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, block_point(win, "conv1"))
    inspector = win.inspector                                                # shows the block, read-only
    assert inspector.block_id == "conv1" and not inspector.editor("out_channels").isEnabled()
    assert inspector.id_edit.isReadOnly() and "read-only while it trains" in inspector.locked_note.text()
    edits.move_blocks(win.session, {"conv1": (500.0, 500.0)})                # arranging is fine
    assert win.document.blocks["conv1"].pos == (500.0, 500.0)
    ui.stop()
    wait_run_end(ui, qtbot)
    assert edits.add_block(win.session, "ReLU", (0, 0))                       # editable again
    assert inspector.editor("out_channels").isEnabled() and inspector.locked_note.isHidden()


def test_a_loss_that_blows_up_is_shown_and_the_window_stays_usable(win, ui, qtbot):
    doc = GraphDocument("linear")
    blocks = [doc.add_block("Input", {"shape": [1, 28, 28]}), doc.add_block("Flatten"),
              doc.add_block("Linear", {"out_features": 10}), doc.add_block("Output")]
    for a, b in zip(blocks, blocks[1:]):
        doc.connect(a, b)
    doc.training = {"dataset": "mnist-sample", "optimizer": "sgd", "lr": 10.0, "loss": "mse", "epochs": 1}
    win.session.set_document(doc)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    assert ui.live.state == "failed"
    assert "not a finite number" in ui.panel.message.text() and ui.panel.message.isVisible()
    assert "Lower the learning rate" in ui.panel.message.text()
    assert win.document.locked is None and ui.panel.start.isEnabled()
    assert edits.add_block(win.session, "ReLU", (0, 0))
    assert read_json(f"{ui.training.last_run_dir}/summary.json")["status"] == "failed"


def test_training_health_warnings_show_in_the_panel_and_land_in_health_csv(win, ui, qtbot):
    doc = load_graph(preset_path("lenet5"))
    doc.training = {"dataset": "mnist-sample", "optimizer": "adam", "lr": 10.0, "epochs": 1, "max_steps": 3}
    win.session.set_document(doc)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    text = ui.panel.message.text()
    assert "Training health: " in text and "fc1 (update ratio" in text and text.count("exploding") == 1
    assert (Path(ui.training.last_run_dir) / "health.csv").is_file()


def test_a_mismatch_blocks_start_until_its_fix_is_applied(win, ui, qtbot):
    edits.set_param(win.session, "fc3", "out_features", 5)
    assert not ui.panel.start.isEnabled()
    [error] = ui.panel.check_texts("error")
    assert "ends in 5 outputs but mnist-sample has 10 classes" in error
    [fix] = ui.panel.fix_buttons()
    assert fix.text() == "Set fc3.out_features to 10"
    qtbot.mouseClick(fix, LEFT)
    assert win.document.blocks["fc3"].params["out_features"] == 10
    assert ui.panel.start.isEnabled() and ui.panel.check_texts("ok")
    ui.panel.dataset.setCurrentIndex(ui.panel.dataset.findData("cifar10"))     # 3×32×32 colour photos
    texts = " ".join(ui.panel.check_texts("error"))
    assert "Input expects 1×28×28 but cifar10 gives 3×32×32" in texts and not ui.panel.start.isEnabled()
    assert "Set the Input shape to 3×32×32" in [b.text() for b in ui.panel.fix_buttons()]


def test_closing_the_window_mid_run_asks_then_stops_the_thread_and_keeps_a_checkpoint(win, ui, qtbot, dialogs):
    settings(ui, epochs=50, batch_size=16)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 3, timeout=30_000)
    # at 1280×800, beside the message of the start, the status bar keeps what matters readable: the run's
    # progress and "no errors" (it showed "… ✓ no err…" and "Training: epoch 1/50 · 1% · ETA 1:15 · graph read-…")
    win.resize(1280, 800)
    win.statusBar().showMessage("Training started: the graph is read-only until the run ends.", 60_000)
    settle_layouts()
    summary, status = win._status.shown_text().strip(), ui.status_text.shown_text()
    assert summary.endswith("· ✓ no errors") and "61,706 params" in summary, summary
    # any epoch, share and ETA ("–" while not known yet): a busy machine may be further on, or not as far
    assert re.match(r"Training: epoch \d+/50 · \d+% · ETA \S", status) and "…" not in status, status
    full = ui.status_text.text()
    assert full.endswith("graph read-only")
    # whole where it fits (an ETA's digits and the message's room decide), else a shorter form, whole in its tooltip
    assert status == full or full in ui.status_text.toolTip(), (status, ui.status_text.toolTip())
    thread = ui.training.thread
    win.session.undo_stack.setClean()
    assert not win.close() and ui.training.running          # Cancel: the run goes on
    assert dialogs.texts("question")[-1].startswith("Stop training and close Layerloom?")
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    assert win.close()                             # returns once the run has stopped and saved
    # the thread has finished, and may already be deleted (its owner releases it only after wait())
    assert (not shiboken6.isValid(thread) or thread.isFinished()) and not ui.training.running
    ckpt = load_checkpoint(latest_checkpoint(ui.training.last_run_dir))
    assert ckpt.meta["step"] >= 3
    assert read_json(f"{ui.training.last_run_dir}/summary.json")["status"] == "stopped"


def test_a_text_set_needs_its_file_then_shows_decoded_examples(win, ui, qtbot, dialogs, tmp_path):
    rows = ["text,label"] + [f"{w} movie was {w},{int(w == 'great')}" for w in ("great", "awful") * 20]
    (tmp_path / "reviews.csv").write_text("\n".join(rows), encoding="utf-8")
    win.files.open_preset(preset_path("text_gru"))
    assert ui.panel.path_box.isVisible() and not ui.panel.start.isEnabled()
    assert any("Choose the file" in t for t in ui.panel.check_texts("error"))
    dialogs.open_path = str(tmp_path / "reviews.csv")
    qtbot.mouseClick(ui.panel.choose, LEFT)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    assert ui.panel.path.text().endswith("reviews.csv")
    assert ui.panel.examples.texts and all("movie was" in t for t in ui.panel.examples.texts)
    assert "token ids" in ui.panel.data_info.text()
    assert win.session.result.blocks["emb1"].params["num_embeddings"] == ui.info.vocab_size   # "auto" follows


def test_images_smaller_than_the_input_offer_a_smaller_input_or_a_resize(win, ui, qtbot, tmp_path, monkeypatch):
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    for split, count in (("train", 4), ("val", 2)):
        for digit in range(10):
            folder = tmp_path / "small" / split / str(digit)
            folder.mkdir(parents=True)
            for n in range(count):
                Image.fromarray(np.full((8, 8), digit * 20 + n, dtype=np.uint8)).save(folder / f"{n}.png")
    ui.panel.dataset.setCurrentIndex(ui.panel.dataset.findData("image-folder"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path / "small")))
    qtbot.mouseClick(ui.panel.choose, LEFT)
    qtbot.waitUntil(lambda: any("smaller" in t for t in ui.panel.check_texts("error")), timeout=20_000)
    buttons = {b.text(): b for b in ui.panel.fix_buttons()}
    assert set(buttons) >= {"Set the Input to 1×8×8", "Resize the images to 28×28"}
    qtbot.mouseClick(buttons["Resize the images to 28×28"], LEFT)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    assert ui.dataset_options["size"] == [28, 28] and ui.info.sample_shape == (1, 28, 28)
    assert ui.config()["dataset_options"]["size"] == [28, 28]      # a data setting the run and exports keep
def test_opening_another_graph_mid_run_asks_stops_and_never_mixes_the_two(win, ui, qtbot, dialogs):
    """Opening a preset during a run used to show the new graph with the old run's maps, leave "Stopping…"
    on screen for good and keep the old run's data set."""
    settings(ui, epochs=50, batch_size=16)
    QTest.mouseClick(win.view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, block_point(win, "conv1"))
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 3, timeout=30_000)
    run_dir = ui.training.last_run_dir
    preset = next(a for a in win.menus["presets"].actions() if a.objectName() == "preset:text_gru.loom.json")
    preset.trigger()                                           # Cancel (the default answer): nothing changes
    assert ui.training.running and win.document.name == "LeNet-5"
    assert dialogs.texts("question")[-1].startswith("Stop training and open the preset?")
    dialogs.answers += [QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.Discard]   # stop; unsaved: discard
    preset.trigger()
    assert not ui.training.running and win.document.name != "LeNet-5" and not win.document.locked
    assert read_json(f"{run_dir}/summary.json")["status"] == "stopped"
    assert load_checkpoint(latest_checkpoint(run_dir)).meta["step"] >= 3
    assert ui.dataset_name == win.document.training["dataset"] != "mnist-sample"   # the new graph's data set
    assert ui.maps.block is None and ui.maps.current is None and points(ui.plots.raw) == 0
    assert "Stopping" not in ui.panel.progress_text.text() and ui.status.isHidden()
    assert "read-only" not in win.statusBar().currentMessage()


def test_the_runs_tab_resumes_a_stopped_run_of_the_open_graph(win, ui, qtbot):
    settings(ui, epochs=50, batch_size=16)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 3, timeout=30_000)
    ui.stop()
    wait_run_end(ui, qtbot)
    run_dir = ui.training.last_run_dir
    stopped_at = load_checkpoint(latest_checkpoint(run_dir)).meta["step"]
    runs = ui.runs
    assert [p.name for p in runs.selected_paths()] == [Path(run_dir).name] and runs.resume_button.isEnabled()
    qtbot.mouseClick(runs.resume_button, LEFT)
    assert ui.training.running and win.document.locked
    qtbot.waitUntil(lambda: ui.live.step > stopped_at + 2, timeout=30_000)
    assert ui.live.started["resumed_from"] and ui.training.last_run_dir == run_dir
    row = runs.tree.topLevelItem(0)
    assert row.text(0) == Path(run_dir).name and row.text(STATUS) == "training"     # not the "stopped" it was
    assert not runs.resume_button.isEnabled() and "stop it" in runs.resume_button.toolTip()   # one run at a time
    ui.stop()
    wait_run_end(ui, qtbot)
    assert load_checkpoint(latest_checkpoint(run_dir)).meta["step"] > stopped_at + 2
    assert runs.tree.topLevelItem(0).text(STATUS) == "stopped" and runs.resume_button.isEnabled()


def test_a_resumed_run_shows_the_epochs_it_trained_before_it_stopped(win, ui, qtbot):
    settings(ui, epochs=3, batch_size=16)                # 250 steps an epoch: time to stop inside the second
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: len(ui.live.epochs) >= 1, timeout=60_000)
    ui.stop()
    wait_run_end(ui, qtbot)
    run_dir = ui.training.last_run_dir
    before = read_metrics(run_dir)                       # the trainer's own record of the epochs it ended
    assert [r["epoch"] for r in before] == [1]
    assert "wrong of" in ui.epochs.tabs.tabText(1)
    qtbot.mouseClick(ui.runs.resume_button, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= before[0]["step"] + 5, timeout=30_000)
    ui.stop()                                            # stopped again before another epoch has ended
    wait_run_end(ui, qtbot)
    x, y = ui.plots.accuracy.getData()
    assert list(x) == [before[0]["step"]] and np.allclose(y, [before[0]["val_accuracy"] * 100], atol=1e-4)
    assert ui.plots.loss_plot.viewRange()[0][0] < before[0]["step"]           # the axis shows that epoch
    assert f"validation accuracy {before[0]['val_accuracy'] * 100:.2f}%" in ui.panel.message.text()
    assert ui.epochs.waiting.text().startswith("No epoch has finished since the run resumed")
    assert ui.epochs.tabs.tabText(1) == "Samples"           # no count left from before the stop


def test_undo_of_the_training_settings_during_a_run_shows_in_the_panel_once_it_ends(win, ui, qtbot):
    from layerloom.runtime.config import TrainConfig
    settings(ui, epochs=4, batch_size=16, lr=0.01)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)               # the settings become the graph's, as an undoable step
    assert win.actions_by_name["undo"].text() == "&Undo Keep the training settings in the graph"
    qtbot.waitUntil(lambda: ui.live.step >= 5, timeout=30_000)
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)   # settings, not the network: allowed
    assert win.document.training.get("batch_size") != 16 and ui.training.running
    ui.stop()
    wait_run_end(ui, qtbot)
    run = ui.training.last_run_dir
    assert read_json(f"{run}/config.json")["batch_size"] == 16               # what the run trained with
    graph = TrainConfig.from_sources(win.document.training)                   # what the graph now says
    shown = ui.panel.settings.values()
    assert (shown["batch_size"], shown["epochs"], shown["lr"]) == (graph.batch_size, graph.epochs, graph.lr)
    settings(ui, max_steps=3)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    assert read_json(f"{ui.training.last_run_dir}/config.json")["batch_size"] == graph.batch_size


def test_a_resumed_run_shows_its_own_settings_while_it_trains(win, ui, qtbot):
    settings(ui, epochs=3, batch_size=16, lr=0.002)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 3, timeout=30_000)
    ui.stop()
    wait_run_end(ui, qtbot)
    first = ui.training.last_run_dir
    settings(ui, max_steps=2, batch_size=32, lr=0.01)             # another run with other settings
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    runs = ui.runs
    runs.tree.clearSelection()
    next(runs.tree.topLevelItem(i) for i in range(runs.tree.topLevelItemCount())
         if runs.tree.topLevelItem(i).text(0) == Path(first).name).setSelected(True)
    qtbot.mouseClick(runs.resume_button, LEFT)
    trains_with = read_json(f"{first}/config.json")                # what the trainer resumes with
    shown = ui.panel.settings.values()
    assert ui.training.running and (shown["batch_size"], shown["lr"]) == (trains_with["batch_size"], trains_with["lr"])
    ui.stop()
    wait_run_end(ui, qtbot)
    shown = ui.panel.settings.values()                             # the graph's own settings again
    assert (shown["batch_size"], shown["lr"], shown["max_steps"]) == (32, 0.01, 2)


def test_in_a_small_window_validation_opens_as_a_tab_beside_the_curves(win, ui, qtbot):
    """At 1024×768 a run opened Validation beside Curves: both were cut (the plots, the readout, the tab names
    elided to "Summ…", "Curv…"). In a window under 1200 wide Validation opens as a tab of the Curves' group."""
    win.resize(1024, 768)
    qtbot.waitUntil(lambda: win.width() == 1024)
    assert not ui.epochs_dock.isVisible()
    settings(ui, epochs=1, batch_size=64)
    qtbot.mouseClick(ui.panel.start, LEFT)
    assert ui.epochs_dock in win.tabifiedDockWidgets(ui.curves_dock)
    ui.stop()
    wait_run_end(ui, qtbot)
    qtbot.wait(20)
    assert ui.plots.width() >= 400      # the width between the side docks (it had three fifths of it: 280)


def test_pausing_brings_the_learning_rate_it_speaks_of_into_sight(win, ui, qtbot):
    """Paused, the panel said "You can change the learning rate, then resume" with the learning-rate field
    scrolled out of sight above (the Training dock shares its side with Feature maps)."""
    win.resize(1024, 768)
    qtbot.waitUntil(lambda: win.width() == 1024)
    settings(ui, epochs=2, batch_size=16)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 3, timeout=60_000)
    qtbot.mouseClick(ui.panel.pause, LEFT)
    qtbot.waitUntil(lambda: ui.run.state.value == "paused", timeout=30_000)
    qtbot.wait(50)
    lr = ui.panel.settings.lr
    assert ui.panel.message.text().startswith("Paused. You can change the learning rate")
    viewport = ui.panel.settings_scroll.viewport()
    top_left = lr.mapTo(viewport, lr.rect().topLeft())
    assert lr.isEnabled() and viewport.rect().contains(QRect(top_left, lr.size()))
    ui.stop()
    wait_run_end(ui, qtbot)
