"""A lesson counts only what happened since it started, its steps can be done as written, and the Inside
panel opens tall enough for its arithmetic: all driven through the window with real clicks."""
import json
import os
from pathlib import Path

from PySide6.QtCore import Qt

from layerloom.app import settings
from layerloom.graph import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.trainer import Trainer

from .helpers import Gate, block_point, settings as choose, wait_run_end
from .test_learning import win  # noqa: F401  (the window fixture with its own runs folder)

LEFT = Qt.MouseButton.LeftButton
SHOTS = Path(os.environ.get("LESSON_SHOTS", "")) if os.environ.get("LESSON_SHOTS") else None


def _click_block(win, qtbot, block_id: str) -> None:
    win.view.centerOn(win.scene.blocks[block_id])
    qtbot.mouseClick(win.view.viewport(), LEFT, pos=block_point(win, block_id))


def _start(win, qtbot, lesson_id: str):
    win.actions_by_name["lessons"].trigger()
    panel = win.learning.lessons
    panel.select_lesson(lesson_id)
    qtbot.mouseClick(panel.start, LEFT)
    win.learning.check_lesson()
    return panel


def _shot(widget, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(SHOTS / name))


def test_fc1_clicked_before_the_lesson_does_not_tick_it_but_a_click_in_it_does(win, qtbot):
    win.files.open_preset(preset_path("lenet5"))
    _click_block(win, qtbot, "fc1")
    assert win.selected_block() == "fc1"
    panel = _start(win, qtbot, "alexnet-fix")
    assert win.document.name == "AlexNet without padding"
    assert panel.progress["alexnet-fix"].done == 0 and panel.status.text() == "Not yet: not done yet in the app"
    _click_block(win, qtbot, "fc1")
    qtbot.waitUntil(lambda: panel.progress["alexnet-fix"].done == 1, timeout=5000)


def test_a_run_from_before_the_lesson_does_not_tick_it_but_a_new_one_does(win, qtbot):
    base = settings.runs_dir()
    old = Trainer(load_graph(preset_path("rnn_classifier")), {"epochs": 1, "max_steps": 2}, None, runs_base=base)
    old.run()
    old.run_dir.rename(old.run_dir.with_name("20200101-120000-" + old.run_dir.name[16:]))   # an old run
    panel = _start(win, qtbot, "rnn-vs-lstm")
    assert panel.progress["rnn-vs-lstm"].done == 0
    assert panel.status.text() == "Not yet: train a run: no run since this lesson started"
    Trainer(win.document, {**win.document.training, "epochs": 1, "max_steps": 2}, None, runs_base=base).run()
    win.learning.check_lesson()
    assert panel.progress["rnn-vs-lstm"].done == 1


def test_feature_maps_step_ticks_on_clicking_conv2_while_it_trains(win, ui, qtbot, monkeypatch):
    """Lesson 6 step 3 said "during or after training", but maps exist only for the block followed during a run:
    it now says to click conv2 while it trains, and doing just that ticks it."""
    from layerloom.runtime import trainer as trainer_module
    panel = _start(win, qtbot, "what-convolutions-learn")
    step = panel.lesson.steps[2]
    assert "while it trains, click conv2" in step.text
    panel.progress["what-convolutions-learn"].done = 2            # steps 1 and 2 are tested on their own
    win.learning.check_lesson()
    assert panel.title.text() == f"Step 3 of 3: {step.title}"
    _shot(panel, "lesson6-step3.png")
    first = []                                                    # hold the run at its first epoch's end
    gate = Gate(trainer_module.save_checkpoint, when=lambda: not first and not first.append(1))
    monkeypatch.setattr(trainer_module, "save_checkpoint", gate)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    choose(ui, epochs=2, max_steps=70)
    qtbot.mouseClick(win.toolbar.widgetForAction(win.actions_by_name["train_start"]), LEFT)   # F5's button
    qtbot.waitUntil(gate.entered.is_set, timeout=120_000)
    assert ui.run.active
    _click_block(win, qtbot, "conv2")
    gate.opened.set()
    qtbot.waitUntil(lambda: panel.progress["what-convolutions-learn"].done == 3, timeout=120_000)
    wait_run_end(ui, qtbot, timeout=120_000)
    _shot(panel, "lesson6-done.png")


def test_overfitting_step_one_ticks_by_pressing_start_in_the_training_panel(win, ui, qtbot):
    """Lesson 4 step 1 asked to set train_count in the Training panel, which has no such field: the lesson's
    graph now comes set to 500 digits and 30 epochs, and ▶ Start as the step says trains it so."""
    panel = _start(win, qtbot, "overfitting")
    _shot(panel, "lesson4-step1.png")
    ui.dock.raise_()                               # its tab, under which the Lessons panel opened
    qtbot.waitUntil(lambda: ui.ready, timeout=60_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.run.active, timeout=20_000)
    wait_run_end(ui, qtbot, timeout=300_000)
    (run,) = [p for p in Path(ui.runs_base).iterdir() if (p / "config.json").is_file()]
    config = json.loads((run / "config.json").read_text())
    assert config["dataset_options"] == {"train_count": 500} and config["epochs"] == 30
    win.learning.check_lesson()
    assert panel.progress["overfitting"].done == 1, panel.status.text()


def test_inside_opens_tall_enough_for_its_arithmetic(win, qtbot):
    from layerloom.app.learning import INSIDE_HEIGHT
    win.files.open_preset(preset_path("lenet5"))
    dock = win.docks["inside"]
    win.resizeDocks([dock], [120], Qt.Orientation.Vertical)
    win.actions_by_name["inside"].trigger()
    qtbot.waitUntil(lambda: dock.height() >= min(INSIDE_HEIGHT, win.height() // 2), timeout=5000)
