"""The Explain panel looks through the validation set off the GUI thread: the window answers while it works,
the answer arrives, an older answer is dropped, and Cancel (a newer run, a closed panel) stops the work."""
import threading

from PySide6.QtCore import Qt, QTimer

from layerloom.app.panels.explain import ExplainPanel
from layerloom.runtime import explain_subject
from layerloom.runtime.explain import Cancelled
from layerloom.runtime.learnt import top_activating


def held_wrong_predictions(monkeypatch, release: threading.Event, started: list):
    """Subject.wrong_predictions that waits for `release` (or its cancel) before answering as it would; it
    lets itself go after 5 s (in the GUI thread, the panel would otherwise wait for ever)."""
    real = explain_subject.Subject.wrong_predictions

    def held(self, limit=64, cancel=None):
        started.append(self)
        for _ in range(500):
            if release.wait(0.01):
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
        return real(self, limit, **({} if cancel is None else {"cancel": cancel}))
    monkeypatch.setattr(explain_subject.Subject, "wrong_predictions", held)


def panel_held_at_its_list(qtbot, monkeypatch, run):
    """An Explain panel with `run` loaded, its wrong-sample search started and held until `release` is set."""
    release, started = threading.Event(), []
    held_wrong_predictions(monkeypatch, release, started)
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(run)
    assert panel.wait_loaded()
    qtbot.waitUntil(lambda: len(started) == 1)
    return panel, release, started


def test_the_wrong_samples_arrive_while_the_window_keeps_answering(qtbot, trained_lenet, monkeypatch, tmp_path):
    release, started = threading.Event(), []
    held_wrong_predictions(monkeypatch, release, started)
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 480)
    panel.show()
    panel.load_run(trained_lenet)
    assert panel.wait_loaded()
    assert panel.wrong.count() == 0                   # load_run returned while the work goes on in a Job
    assert "looking through the validation set" in panel.wrong_title.text()
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=3000)        # events are handled while it works
    panel.grab().save(str(tmp_path / "explain-working.png"))
    release.set()
    assert panel.lists.wait()
    expected = panel.subject.wrong_predictions(48)
    shown = [panel.wrong.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.wrong.count())]
    assert shown == [w["index"] for w in expected] and shown
    assert panel.current_index == shown[0]
    assert "label under each" in panel.wrong_title.text()
    panel.grab().save(str(tmp_path / "explain-done.png"))


def test_a_newer_run_drops_the_older_answer_and_cancels_its_work(qtbot, trained_lenet, monkeypatch):
    panel, release, started = panel_held_at_its_list(qtbot, monkeypatch, trained_lenet)
    first_job, first = panel.lists.running, panel.subject
    panel.load_run(trained_lenet)                  # loaded again: a new subject
    assert panel.wait_loaded()
    assert panel.subject is not first and first_job.cancelled     # the older work was told to stop
    qtbot.waitUntil(lambda: len(started) == 2, timeout=10_000)
    assert started[1] is panel.subject and panel.wrong.count() == 0    # the cancelled answer never showed
    release.set()
    assert panel.lists.wait()
    assert panel.wrong.count() == len(panel.subject.wrong_predictions(48)) > 0


def test_closing_the_panel_stops_its_background_work(qtbot, trained_lenet, monkeypatch):
    panel, release, started = panel_held_at_its_list(qtbot, monkeypatch, trained_lenet)
    job = panel.lists.running
    panel.stop_all()                                       # what closing the panel or the window does
    assert job.isFinished() and job.error == "cancelled" and job.result is None
    assert panel.lists.wait() and panel.wrong.count() == 0


def test_the_block_tab_shows_the_newest_block_asked_for(qtbot, trained_lenet):
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 480)
    panel.show()
    panel.load_run(trained_lenet)
    assert panel.wait_loaded()
    view = panel.block_view
    panel.tabs.setCurrentWidget(view)
    for block in ("conv1", "pool1", "conv2"):              # each replaces the one before, unfinished
        view.block.setCurrentText(block)
    assert "Working" in view.message.text()
    assert view.jobs.wait() and view.channel.maximum() == 15      # conv2's channels, known once it came
    view.channel.setValue(2)
    view.channel.setValue(3)
    assert view.jobs.wait() and panel.lists.wait()
    batches = [(idx, x) for idx, _, x, _ in panel.subject.batches(500)]
    assert view.top9 == top_activating(panel.subject.model, batches, "conv2", 3)
    assert view.top_title.text() == "Top-9 validation samples for channel 3 of conv2"
    assert view.message.text() == "" and len(view.activations.getPlotItem().items) == 1   # its histogram came


def test_the_data_set_loads_off_the_gui_thread_while_the_panel_says_it_is_loading(qtbot, trained_lenet,
                                                                                    monkeypatch):
    release, loaded_in = threading.Event(), []
    real = explain_subject.Subject._load_data

    def held(self):
        loaded_in.append(threading.current_thread())
        release.wait(5)                                 # lets itself go: in the GUI thread it would stall 5 s
        return real(self)
    monkeypatch.setattr(explain_subject.Subject, "_load_data", held)
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 480)
    panel.show()
    panel.load_run(trained_lenet)
    assert panel.wait_loaded()
    assert "loading the data set" in panel.wrong_title.text() and panel.wrong.count() == 0
    qtbot.mouseClick(panel.explain_button, Qt.MouseButton.LeftButton)     # before the data came: no wait here
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=3000)        # events are handled while it loads
    assert loaded_in and threading.main_thread() not in loaded_in
    assert "loading the data set" in panel.wrong_title.text()
    with qtbot.waitSignal(panel.explained, timeout=60_000):
        release.set()
    assert panel.lists.wait() and panel.block_view.jobs.wait()
    assert len(loaded_in) == 1                                     # three jobs wanted it: loaded once
    assert panel.wrong.count() > 0 and "label under each" in panel.wrong_title.text()


def test_the_block_tab_goes_over_the_validation_set_once_for_its_histogram_and_top9(qtbot, trained_lenet,
                                                                                   monkeypatch):
    from layerloom.runtime.learnt import activation_histogram
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(trained_lenet)
    assert panel.wait_loaded()
    view = panel.block_view
    assert view.jobs.wait() and panel.lists.wait()
    passes = []
    real = explain_subject.Subject.batches

    def counted(self, size=256):
        passes.append(size)
        return real(self, size)
    monkeypatch.setattr(explain_subject.Subject, "batches", counted)
    view.block.setCurrentText("conv2")
    assert view.jobs.wait()
    assert len(passes) == 1
    monkeypatch.setattr(explain_subject.Subject, "batches", real)
    batches = [(idx, x) for idx, _, x, _ in panel.subject.batches(500)]
    assert view.top9 == top_activating(panel.subject.model, batches, view.block.currentText(), view.channel.value())
    bars = view.activations.getPlotItem().items[0].opts
    counts, edges = activation_histogram(panel.subject.model, batches, "conv2")
    assert list(bars["height"]) == list(counts) and list(bars["x0"]) == list(edges[:-1])


def test_a_run_whose_weights_are_nan_loads_with_words_not_a_traceback(qtbot, monkeypatch):
    import torch

    from layerloom.presets import preset_path
    subject = explain_subject.load_subject(preset_path("lenet5"))
    with torch.no_grad():
        subject.model.conv1.weight[:] = float("nan")           # as after a run that diverged
    monkeypatch.setattr(explain_subject, "load_subject", lambda _run: subject)
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run("diverged-run")
    assert panel.wait_loaded()
    assert panel.lists.wait() and panel.block_view.jobs.wait()
    assert "NaN or infinite" in panel.wrong_title.text() and panel.wrong.count() == 0
    assert panel.filters.text().startswith("conv1's filters hold NaN")
    view = panel.block_view
    assert view.block.currentText() == "conv1" and view.titles[view.weights] == "Weights of conv1: not numbers"
    assert view.message.text().startswith("all of conv1's outputs are NaN or infinite")


def test_a_model_that_gets_every_sample_right_says_so_instead_of_an_empty_list(qtbot, monkeypatch):
    from layerloom.presets import preset_path
    monkeypatch.setattr(explain_subject.Subject, "wrong_predictions", lambda self, limit=64, cancel=None: [])
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(preset_path("lenet5"))
    assert panel.wait_loaded()
    assert panel.lists.wait() and panel.wrong.count() == 0
    assert panel.wrong_title.text() == (f"It gets all {len(panel.subject.val):,} validation samples right: Explain "
                                        "shows why it predicts validation sample 0")
    with qtbot.waitSignal(panel.explained, timeout=60_000):
        qtbot.mouseClick(panel.explain_button, Qt.MouseButton.LeftButton)
    assert panel.current_index == 0
    panel.block_view.jobs.wait()


def test_names_from_files_show_as_written_not_as_markup(qtbot, tmp_path):
    import json

    import numpy as np
    from PySide6.QtGui import QTextDocument

    from layerloom.app.panels.feature_maps import FeatureMapsPanel
    from layerloom.presets import preset_path

    def seen(rich: str) -> str:                   # what a person reads on the label or tooltip
        doc = QTextDocument()
        doc.setHtml(rich)
        return doc.toPlainText()
    graph = json.loads(preset_path("lenet5").read_text(encoding="utf-8"))
    graph["name"] = "<i>My</i> net & <u>co</u>"
    path = tmp_path / "odd.loom.json"
    path.write_text(json.dumps(graph), encoding="utf-8")
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.load_run(path)
    assert panel.wait_loaded()
    assert seen(panel.title.text()).startswith("<i>My</i> net & <u>co</u> — ")
    panel.subject.class_names = [f"<b>digit</b> {i}" for i in range(10)]     # as an image folder's subfolders
    assert panel.lists.wait() and panel.block_view.jobs.wait() and panel.wrong.count()
    assert "a <b>digit</b> " in seen(panel.wrong.item(0).toolTip())
    maps = FeatureMapsPanel()
    qtbot.addWidget(maps)
    maps.set_run_info(panel.subject.class_names, (), np.zeros((1, 28, 28), np.uint8), 3, 0)
    assert "label <b>digit</b> 3" in seen(maps.probe_text.text())


def test_a_second_click_while_the_first_sample_loads_does_not_wait_for_it(qtbot, trained_lenet, monkeypatch):
    release, asked = threading.Event(), []
    real = explain_subject.Subject.sample

    def held(self, index):
        asked.append(index)
        if len(asked) == 1:
            release.wait(5)                         # the first click's sample is slow to come (the data set loads)
        return real(self, index)
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.load_run(trained_lenet)
    assert panel.wait_loaded()
    assert panel.lists.wait() and panel.block_view.jobs.wait()
    monkeypatch.setattr(explain_subject.Subject, "sample", held)
    panel.explain_sample(3)
    first = panel.job
    qtbot.waitUntil(lambda: asked == [3])
    with qtbot.waitSignal(panel.explained, timeout=60_000) as got:
        panel.explain_sample(5)                     # returns at once: the first is told to stop, not waited for
        assert first.isRunning() and first.cancelled and panel.job is not first
    assert panel.message.text().startswith("Predicted") and panel.current_index == 5
    release.set()
    qtbot.waitUntil(lambda: not first.isRunning(), timeout=10_000)
    qtbot.wait(20)
    assert panel.message.text().startswith("Predicted") and got.args[0] is not None   # the older answer never showed
