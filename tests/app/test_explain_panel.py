"""The Explain panel: a click on a wrong validation sample explains it in a worker; Cancel stops it."""
import pytest
from PySide6.QtCore import Qt

from layerloom.app.panels.explain import ExplainPanel
from layerloom.runtime.explain import integrated_gradients


def shown_panel(qtbot, run, height=560):
    """An Explain panel on the screen with `run` loaded."""
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, height)
    panel.show()
    panel.load_run(run)
    assert panel.wait_loaded()
    assert panel.lists.wait() and panel.block_view.jobs.wait()
    return panel


def test_clicking_a_wrong_sample_shows_its_overlay_and_top5(qtbot, trained_lenet, tmp_path):
    panel = shown_panel(qtbot, trained_lenet)
    assert panel.wrong.count() > 0
    item = panel.wrong.item(0)
    index = item.data(Qt.ItemDataRole.UserRole)
    _, x, label = panel.subject.sample(index)
    assert int(panel.subject.model(x).argmax()) != label           # it really is a wrong one
    assert [panel.block.itemText(i) for i in range(panel.block.count())][-1] == "pool2"
    panel.method.setCurrentText("gradcam")
    with qtbot.waitSignal(panel.explained, timeout=60_000) as got:
        rect = panel.wrong.visualItemRect(item)
        qtbot.mouseClick(panel.wrong.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    e = got.args[0]
    assert e.method == "gradcam" and e.block == "pool2" and len(e.prediction) == 5
    assert e.prediction[0]["name"] in panel.message.text()
    assert all(p["name"] in panel.picture.toolTip() for p in e.prediction)     # the full names the picture cuts
    assert not panel.picture.pixmap().isNull() and panel.picture.pixmap().width() > 400
    qtbot.waitUntil(lambda: not panel.cancel_button.isEnabled())
    assert not panel.filters.pixmap().isNull()                    # conv1's six filters
    strip = panel.health.pixmap()                                 # 12 blocks × 5 samples of health
    assert not strip.isNull() and strip.height() >= 12 * 18
    panel.grab().save(str(tmp_path / "explain-panel.png"))


def test_cancel_stops_integrated_gradients_in_the_worker(qtbot, trained_lenet):
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(trained_lenet)
    assert panel.wait_loaded()
    _, x, y = panel.subject.sample(0)
    seen = []

    def work(progress, cancel):
        def pressed_cancel_after_first_batch(done, total):
            seen.append((done, total))
            progress(done, total)
            cancel.set()
        return integrated_gradients(panel.subject.model, x, y, steps=50, batch=5,
                                    progress=pressed_cancel_after_first_batch, cancel=cancel)
    job = panel.explain_job(work)
    with qtbot.waitSignal(job.finished, timeout=30_000):
        job.start()
    job.wait()
    assert job.error == "Cancelled." and job.result is None and seen == [(5, 50)]
    qtbot.waitUntil(lambda: panel.message.text() == "Cancelled.")      # what the panel says
    # the panel's own Cancel: the worker is told to stop, the panel says so at once, and the thread ends
    panel.method.setCurrentText("integrated-gradients")
    assert panel.progress.isHidden()                 # no bar, not an empty one, while nothing is explained
    panel.explain_sample(0)
    running = panel.job
    assert not panel.progress.isHidden() and panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert panel.job is None and running.cancelled and panel.message.text() == "Cancelled."
    assert panel.progress.isHidden() and not panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not running.isRunning(), timeout=30_000)
    qtbot.wait(20)
    assert panel.message.text() == "Cancelled." and panel.picture.pixmap().isNull()   # its answer never showed


def test_train_menu_opens_the_explain_dock_on_a_run(win, qtbot, trained_lenet, tmp_path):
    win.actions_by_name["explain"].trigger()
    dock = win.docks["explain"]
    assert dock.isVisible()
    assert "No trained run yet" in win.explaining.panel.message.text()
    assert win.explaining.open(trained_lenet)
    panel = win.explaining.panel
    assert panel.wait_loaded() and panel.lists.wait()
    with qtbot.waitSignal(panel.explained, timeout=60_000):
        panel.explain_sample(panel.wrong.item(0).data(Qt.ItemDataRole.UserRole))
    qtbot.waitUntil(lambda: not panel.cancel_button.isEnabled())
    win.grab().save(str(tmp_path / "window-explain.png"))


def test_block_tab_shows_histograms_and_the_top9_of_a_channel(qtbot, trained_lenet, tmp_path):
    from layerloom.runtime.learnt import top_activating
    panel = shown_panel(qtbot, trained_lenet, 520)
    view = panel.block_view
    panel.tabs.setCurrentWidget(view)
    view.block.setCurrentText("conv2")
    view.channel.setValue(3)
    assert view.jobs.wait()
    assert view.channel.maximum() == 15                           # conv2 has 16 channels
    batches = [(idx, x) for idx, _, x, _ in panel.subject.batches(500)]
    assert view.top9 == top_activating(panel.subject.model, batches, "conv2", 3)
    assert not view.top.pixmap().isNull() and len(view.weights.getPlotItem().items) == 1
    assert "channel 3 of conv2" in view.top_title.text()
    panel.grab().save(str(tmp_path / "block-tab.png"))
    # the histograms follow the theme (they had pyqtgraph's black background), light and dark
    from layerloom.app import theme
    try:
        for mode, light in (("light", True), ("dark", False)):
            theme.apply(mode)
            qtbot.wait(150)                                       # the axes widen to their labels
            corner = view.weights.grab().toImage().pixelColor(3, 3)
            assert (corner.lightness() > 200) if light else (corner.lightness() < 80), (mode, corner.name())
            panel.grab().save(str(tmp_path / f"block-tab-{mode}.png"))
    finally:
        theme.apply("system")


@pytest.mark.parametrize("damage", ["cut", "bytes", "columns", "text"])
def test_a_health_csv_cut_short_or_damaged_shows_what_is_readable_and_says_what_was_skipped(qtbot, trained_lenet,
                                                                                           tmp_path, damage):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(trained_lenet, run)
    text = (run / "health.csv").read_bytes()
    lines = text.splitlines(keepends=True)
    (run / "health.csv").write_bytes({"cut": text[:text.index(b"e-", len(text) // 2) + 1],   # a crash mid-number
                                      "bytes": b"\xff\xfe\x00garbage", "columns": b"when,where\n1,2\n",
                                      "text": b"".join(lines[:3] + [b",".join(lines[3].split(b",")[:3] + [b"oops"]
                                                                              + lines[3].split(b",")[4:])] + lines[4:])
                                      }[damage])
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 500)
    panel.show()
    panel.load_run(run)
    assert panel.wait_loaded()
    panel.tabs.setCurrentIndex(2)
    if damage in ("bytes", "columns"):              # no whole line: said in words, no strip
        said = panel.health.text()
        assert said.startswith("This run's health.csv holds no line that can be read: ") and "\n" not in said
        assert "damaged line" in said and said.endswith("train the graph again to record it anew.")
        assert not panel.health_note.isVisible()
    else:                                           # the whole lines are drawn; the note says what was left out
        assert not panel.health.pixmap().isNull()
        note = panel.health_note.text()
        assert panel.health_note.isVisible() and note.startswith("Drawn from what could be read: 1 damaged line of "
                                                                 "health.csv was skipped (line ")
        assert ("line 4: act_std is 'oops', not a number" if damage == "text" else "fields, not 9") in note
    assert not panel.filters.pixmap().isNull()                     # the rest of the run still shows
    assert panel.minimumSizeHint().width() < 800                   # the sentence wraps in a narrow dock
    panel.grab().save(str(tmp_path / f"health-{damage}.png"))
    assert panel.lists.wait() and panel.block_view.jobs.wait()


def test_explaining_a_run_of_a_graph_edited_since_says_it_shows_the_network_as_trained(win, qtbot, trained_lenet):
    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))               # the graph the run was trained from
    panel = win.explaining.panel
    win.document.move_block("conv1", (40.0, 80.0))              # moving a block changes no network
    assert win.explaining.open(trained_lenet) and panel.wait_loaded() and panel.message.text() == ""
    win.document.set_param("fc1", "out_features", 100)        # an edit after the run
    assert win.explaining.open(trained_lenet) and panel.wait_loaded()
    assert panel.message.text() == ("The graph has changed since this run: Explain shows the network as it was "
                                    "trained; train again to explain your edits.")
    assert panel.subject.model.fc1.out_features == 120          # what it explains: the run's own network
    assert panel.lists.wait() and panel.block_view.jobs.wait()


def test_any_validation_sample_is_explained_when_typed_in_the_sample_box(qtbot, trained_lenet):
    """Not only the wrong samples: the box beside Explain takes any index of the validation set."""
    from PySide6.QtTest import QTest
    panel = shown_panel(qtbot, trained_lenet)
    box = panel.sample
    assert box.isEnabled() and box.maximum() == len(panel.subject.val) - 1
    wrong = {panel.wrong.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.wrong.count())}
    index = next(i for i in range(len(panel.subject.val)) if i not in wrong)        # one it gets right
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(box, str(index))
    with qtbot.waitSignal(panel.explained, timeout=60_000) as got:
        qtbot.mouseClick(panel.explain_button, Qt.MouseButton.LeftButton)
    _, x, label = panel.subject.sample(index)
    top = panel.subject.class_names[int(panel.subject.model(x).argmax())]
    assert got.args[0].prediction[0]["name"] == top == panel.subject.class_names[label]
    assert f"sample {index}" in panel.message.text() or top in panel.message.text()
    rect = panel.wrong.visualItemRect(panel.wrong.item(0))        # a click below picks its sample in the box
    with qtbot.waitSignal(panel.explained, timeout=60_000):
        qtbot.mouseClick(panel.wrong.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert box.value() == panel.wrong.item(0).data(Qt.ItemDataRole.UserRole)
    qtbot.waitUntil(lambda: not panel.cancel_button.isEnabled())


def test_explain_opens_on_the_open_graphs_latest_run_in_the_windows_runs_folder(win, qtbot, trained_lenet,
                                                                                   tmp_path):
    """Explain looked for "the latest run" in the folder saved in the settings, not the one the window's
    runs go to and its Runs list shows, and took the newest run of any graph there."""
    import shutil

    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.trainer import Trainer
    runs = tmp_path / "runs"
    shutil.copytree(trained_lenet, runs / trained_lenet.name)
    Trainer(load_graph(preset_path("mlp")), {"epochs": 1, "max_steps": 2}, None, runs_base=runs).run()  # newer
    win.files.open_preset(preset_path("lenet5"))
    win.training.set_runs_folder(runs)
    win.actions_by_name["explain"].trigger()
    panel = win.explaining.panel
    assert panel.wait_loaded() and panel.subject.doc.name == "LeNet-5"
    assert str(runs / trained_lenet.name) in panel.title.text()
    assert panel.lists.wait() and panel.block_view.jobs.wait()
