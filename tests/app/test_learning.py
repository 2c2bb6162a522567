"""Lessons, Look Inside and Step Mode in the window, driven through its menus and real clicks."""
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from layerloom.app import settings
from layerloom.app.window import MainWindow
from layerloom.presets import preset_path
from layerloom.runtime.trainer import Trainer
from .helpers import close_without_questions


@pytest.fixture
def win(qtbot, tmp_path):
    settings.set_runs_dir(tmp_path / "runs")
    w = MainWindow(restore_settings=False)
    qtbot.addWidget(w, before_close_func=close_without_questions)
    w.resize(1280, 720)
    w.show()
    qtbot.waitUntil(lambda: w.later_built, timeout=60_000)     # settled, as a moment after start
    yield w
    w.learning.shutdown(timeout_ms=60000)


def held_back(monkeypatch, module, name: str):
    """`module.name` made to wait, in the background job that calls it, until the event returned is set."""
    import threading
    release = threading.Event()
    real = getattr(module, name)

    def held(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, held)
    return release


def click_then_open_another(win, qtbot, button, release) -> None:
    """Click `button`, open AlexNet (conv1 ... fc3 as LeNet-5 has them) while its job is held, then let it end."""
    from layerloom.presets import preset_path
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert win.learning.jobs
    win.files.open_preset(preset_path("alexnet"))
    release.set()
    qtbot.waitUntil(lambda: not win.learning.jobs, timeout=60_000)
    qtbot.wait(20)


def test_help_lessons_starts_a_lesson_and_ticks_from_the_canvas(win, qtbot, tmp_path):
    win.actions_by_name["lessons"].trigger()
    assert win.docks["lessons"].isVisible()
    panel = win.learning.lessons
    panel.select_lesson("alexnet-fix")
    qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
    assert win.document.name == "AlexNet without padding"
    qtbot.waitUntil(lambda: panel.status.text() != "", timeout=5000)
    win.focus_block("fc1")                           # selecting the failing block is step 1
    qtbot.waitUntil(lambda: panel.progress["alexnet-fix"].done == 1, timeout=5000)
    assert settings.lesson_progress()["alexnet-fix"] == 1
    win.grab().save(str(tmp_path / "lessons-window.png"))


def test_step_mode_and_look_inside(win, qtbot, tmp_path, monkeypatch):
    from layerloom.app.panels import step_panel
    from layerloom.presets import preset_path
    monkeypatch.setattr(step_panel, "SURFACE_STEPS", 5)
    win.files.open_preset(preset_path("lenet5"))
    win.actions_by_name["step_mode"].trigger()
    step = win.learning.step
    qtbot.mouseClick(step.step_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step.loss.text().startswith("Starting from"), timeout=60000)
    assert "Step 1: loss" in step.loss.text()
    assert step.table.rowCount() == 12 and step.table.item(0, 0).text() == "fc3"
    notes = {e.src: w.note for e, w in win.scene.wires.items()}
    assert notes["fc3"] == f"← ∇ {float(step.table.item(0, 1).text()):.1e}" and notes["conv1"].startswith("← ∇ ")
    step.weight_block.setCurrentIndex(step.weight_block.findData("fc3"))
    qtbot.mouseClick(step.step_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Step 2: loss" in step.loss.text(), timeout=60000)
    assert step.rule.text().startswith("fc3.weight[0, 0]: m ← 0.9·m")      # Adam, as the preset trains
    qtbot.mouseClick(step.surface_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(step.plot.isVisible, timeout=120000)
    win.grab().save(str(tmp_path / "step-window.png"))
    qtbot.mouseClick(step.reset_button, Qt.MouseButton.LeftButton)
    assert all(w.note == "" for w in win.scene.wires.values())
    # a short real run, then the arithmetic of conv1's pixel
    Trainer(win.document, {"epochs": 1, "max_steps": 20}, None, runs_base=settings.runs_dir()).run()
    win.focus_block("conv1")
    win.actions_by_name["inside"].trigger()
    controls = win.learning.inside
    assert controls.block.currentData() == ("conv1", "Conv2d") and controls.show_button.isEnabled()
    controls.set_position("conv1", 2, 14, 14)
    qtbot.mouseClick(controls.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(win.learning.inside_view.lines), timeout=60000)
    view = win.learning.inside_view
    assert view.result["kind"] == "Conv2d" and abs(view.result["computed"] - view.result["actual"]) < 1e-5
    from layerloom.app.panels.inside import FieldView
    field = view.findChildren(FieldView)
    assert len(field) == 1 and field[0].field == {"rows": (12, 16), "cols": (12, 16)}   # 5×5 kernel, padding 2
    win.grab().save(str(tmp_path / "inside-window.png"))
    view.grab().save(str(tmp_path / "inside-view.png"))


def test_inspector_works_the_rules_out_with_the_blocks_numbers(win, qtbot, tmp_path):
    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))
    win.focus_block("conv1")
    text = win.inspector.arithmetic.text()
    assert "H_out = ⌊(28 + 2·2 − 1·(5 − 1) − 1) / 1⌋ + 1 = 28" in text and "params = 6·(1·5·5) + 6 = 156" in text
    lesson = [l for l in win.learning.lessons.lessons if l.id == "alexnet-fix"][0]
    win.learning.start_lesson(lesson)
    win.focus_block("pool3")
    assert "H_out = ⌊(4 − 3) / 2⌋ + 1 = 1" in win.inspector.arithmetic.text()
    win.focus_block("fc1")
    assert "in_features = 9216, but the last dimension arriving is 256  ✗" in win.inspector.arithmetic.text()
    qtbot.wait(20)
    win.grab().save(str(tmp_path / "inspector.png"))


def test_clicking_a_feature_map_pixel_shows_its_arithmetic(win, qtbot):
    import numpy as np
    from PySide6.QtCore import QPointF

    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))
    Trainer(win.document, {"epochs": 1, "max_steps": 10}, None, runs_base=settings.runs_dir()).run()
    win.docks["feature_maps"].show()
    maps = win.training.maps
    maps.show_block("conv1", "Conv2d")
    maps.set_maps({"type": "feature_maps", "block": "conv1", "kind": "image", "channels": 6, "shape": (6, 28, 28),
                   "maps": np.full((6, 28, 28), 128, np.uint8), "step": 10, "probe_index": 3})
    qtbot.wait(50)
    assert "viewed_feature_maps" in win.learning.lessons.facts
    rows, cols, h, w = maps._grid
    channel, i, j = 1, 5, 9
    x = (channel % cols) * (w + 1) + j + 0.5
    y = (channel // cols) * (h + 1) + i + 0.5

    def click_point():
        """The pixel's centre in the view, in whole screen pixels as a click has it (the dock may still be
        settling: a click is only made once that point lies in the pixel meant)."""
        scene = maps.plot.getViewBox().mapViewToScene(QPointF(x, y))
        assert maps.pixel_at(scene) == (channel, i, j)
        return maps.main.mapFromScene(scene)

    qtbot.waitUntil(lambda: maps.pixel_at(maps.main.mapToScene(click_point())) == (channel, i, j), timeout=10000)
    qtbot.mouseClick(maps.main.viewport(), Qt.MouseButton.LeftButton, pos=click_point())
    qtbot.waitUntil(lambda: win.learning.inside_view.result is not None, timeout=60000)
    r = win.learning.inside_view.result
    assert (r["block"], r["channel"], r["position"]) == ("conv1", 1, (5, 9))
    assert win.learning.inside.sample.value() == 3 and abs(r["computed"] - r["actual"]) < 1e-5


def test_looking_at_the_filters_counts_for_the_lesson(win, qtbot):
    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))
    t = Trainer(win.document, {"epochs": 1, "max_steps": 10}, None, runs_base=settings.runs_dir())
    t.run()
    panel = win.explaining.panel
    assert win.explaining.open(t.run_dir) and panel.wait_loaded()
    assert "viewed_filters" not in win.learning.lessons.facts
    tabs = panel.tabs
    tabs.setCurrentIndex(next(i for i in range(tabs.count()) if tabs.tabText(i) == "Filters"))
    assert "viewed_filters" in win.learning.lessons.facts


def test_the_lessons_read_the_runs_again_only_when_a_run_changed(win, qtbot, monkeypatch, tmp_path):
    """With the Lessons panel open, every edit read every run's graph and metrics again (0.15 s of the GUI
    thread with 150 runs in the folder)."""
    from layerloom.app import edits, learning
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.trainer import Trainer
    win.training.set_runs_folder(tmp_path / "runs")
    from layerloom.runtime import lessons as lesson_files
    reads = []
    real = lesson_files.load_run_records
    counted = lambda base: reads.append(base) or real(base)      # noqa: E731
    monkeypatch.setattr(lesson_files, "load_run_records", counted)
    monkeypatch.setattr(learning, "load_run_records", counted, raising=False)
    win.files.open_preset(preset_path("mlp"))
    win.actions_by_name["lessons"].trigger()
    checked = []
    monkeypatch.setattr(win.learning.lessons, "evaluate", lambda context: checked.append(context))
    for width in (40, 41, 42):
        edits.set_param(win.session, "fc1", "out_features", width)
        qtbot.waitUntil(lambda: len(checked) >= 1, timeout=5000)
        win.learning.check_lesson()
    assert len(reads) == 1 and len(checked) >= 4
    assert checked[-1].analysis.blocks["fc1"].output_shape == (42,) and checked[-1].runs == []
    Trainer(load_graph(preset_path("mlp")), {"epochs": 1, "max_steps": 2, "dataset": "shapes",
                                            "dataset_options": {"train_count": 16, "val_count": 8}},
            None, runs_base=tmp_path / "runs").run()            # a run ends: it is read, and counts
    win.learning.check_lesson()
    assert len(reads) == 2 and len(checked[-1].runs) == 1 and checked[-1].runs[0].last is not None
    win.session.undo_stack.setClean()


def test_a_step_that_ends_after_another_graph_opened_leaves_the_new_graph_alone(win, qtbot, monkeypatch):
    """Step, then open another graph before the step is done: the old graph's step arrived in the panel and
    its gradients were written on the new graph's wires (blocks of the same names)."""
    from layerloom.app.panels import step_panel
    from layerloom.presets import preset_path
    release = held_back(monkeypatch, step_panel, "prepare")
    win.files.open_preset(preset_path("lenet5"))
    win.actions_by_name["step_mode"].trigger()
    step = win.learning.step
    click_then_open_another(win, qtbot, step.step_button, release)
    assert all(w.note == "" for w in win.scene.wires.values())
    assert "Step 1" not in step.loss.text() and step.view is None and step.step_button.isEnabled()
    assert "another graph" in step.loss.text() and step.table.rowCount() == 0


def test_an_inside_value_that_ends_after_another_graph_opened_is_dropped(win, qtbot, monkeypatch):
    """Show the arithmetic, then open another graph before it is worked out: the old run's arithmetic arrived in
    the panel under the new graph, and the panel still named the old graph's run and listed its blocks."""
    from layerloom.app.panels import inside_controls
    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))
    Trainer(win.document, {"epochs": 1, "max_steps": 2}, None, runs_base=settings.runs_dir()).run()
    release = held_back(monkeypatch, inside_controls, "_probe")
    win.focus_block("conv1")
    win.actions_by_name["inside"].trigger()
    controls, view = win.learning.inside, win.learning.inside_view
    assert controls.run_label.text().startswith("Run: ")
    click_then_open_another(win, qtbot, controls.show_button, release)
    assert view.result is None and view.lines == []
    assert controls.run_label.text() == "No trained run of this graph yet: train it, then look inside."
    assert "graph open before" in controls.status.text() and not controls.show_button.isEnabled()
    assert [controls.block.itemData(i)[0] for i in range(controls.block.count())] == [
        b for b, blk in win.document.blocks.items() if blk.kind in inside_controls.SUPPORTED]


def test_an_inside_value_shown_leaves_when_another_graph_opens(win, qtbot):
    """A value already taken apart stayed on the panel, with its run named, after another graph opened."""
    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))
    Trainer(win.document, {"epochs": 1, "max_steps": 2}, None, runs_base=settings.runs_dir()).run()
    win.focus_block("conv1")
    win.actions_by_name["inside"].trigger()
    controls, view = win.learning.inside, win.learning.inside_view
    qtbot.mouseClick(controls.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=60_000)
    win.files.open_preset(preset_path("alexnet"))
    assert view.result is None and view.lines == [] and controls.status.text() == ""
    assert not controls.run_label.text().startswith("Run: ")
    win.files.open_preset(preset_path("lenet5"))          # its run is named again, ready to be looked inside
    assert controls.run_label.text().startswith("Run: ") and controls.show_button.isEnabled()


def test_inside_uses_only_runs_of_the_same_network(win, qtbot):
    """A run of another network under the same graph name was taken for this graph's run: Inside offered it and
    Step mode started from it."""
    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))
    Trainer(win.document, {"epochs": 1, "max_steps": 2}, None, runs_base=settings.runs_dir()).run()
    name = win.document.name
    win.files.open_preset(preset_path("alexnet"))
    win.document.name = name
    win.actions_by_name["inside"].trigger()
    assert win.learning.inside.run_label.text() == "No trained run of this graph yet: train it, then look inside."
    assert not win.learning.inside.show_button.isEnabled()


def test_a_run_that_ends_is_offered_by_inside_at_once_and_shown_values_name_their_run(win, ui, qtbot):
    """Inside open on a graph with no trained run, then a run trained and ended: the panel still said "No trained
    run of this graph yet" with Show disabled, until opened again from the menu."""
    from .helpers import settings as choose, wait_run_end
    win.focus_block("conv1")
    win.actions_by_name["inside"].trigger()
    controls, view = win.learning.inside, win.learning.inside_view
    assert controls.run_label.text().startswith("No trained run") and not controls.show_button.isEnabled()
    choose(ui, epochs=1)
    qtbot.mouseClick(ui.panel.start, Qt.MouseButton.LeftButton)
    wait_run_end(ui, qtbot)
    run = Path(ui.training.last_run_dir)
    assert controls.run_label.text().startswith(f"Run: {run.name}") and controls.show_button.isEnabled()
    qtbot.mouseClick(controls.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=60_000)
    assert controls.status.text() == f"Worked out with run {run.name}, on validation sample 0."


# Lesson 6 ticks "the first-layer filters" when the filters are on the screen, however they got there: the
# Filters tab already current when a run's filters arrive, or the Explain dock shown again on that tab.
def _trained_lenet_run(win):
    win.files.open_preset(preset_path("lenet5"))
    t = Trainer(win.document, {"epochs": 1, "max_steps": 10}, None, runs_base=settings.runs_dir())
    t.run()
    return t.run_dir


def _filters_tab(panel) -> int:
    return next(i for i in range(panel.tabs.count()) if panel.tabs.tabText(i) == "Filters")


def test_filters_arriving_on_the_current_filters_tab_count_for_the_lesson(win):
    run = _trained_lenet_run(win)
    panel = win.explaining.panel
    assert win.explaining.open(run)
    panel.tabs.setCurrentIndex(_filters_tab(panel))         # clicked while the run loads: no filters yet
    assert "viewed_filters" not in win.learning.lessons.facts
    assert panel.wait_loaded()
    assert not panel.filters.pixmap().isNull()
    assert "viewed_filters" in win.learning.lessons.facts


def test_filters_on_a_hidden_panel_count_once_it_is_shown_on_that_tab(win, qtbot):
    run = _trained_lenet_run(win)
    panel = win.explaining.panel
    dock = win.docks["explain"]
    dock.hide()
    panel.tabs.setCurrentIndex(_filters_tab(panel))
    panel.load_run(run)
    assert panel.wait_loaded() and not panel.filters.pixmap().isNull()
    assert not panel.isVisible()
    assert "viewed_filters" not in win.learning.lessons.facts   # loaded, but nobody sees it
    dock.show()
    qtbot.waitUntil(panel.isVisible, timeout=5000)
    assert "viewed_filters" in win.learning.lessons.facts
