"""The Summary's training-memory line: the runtime's estimate for the Training panel's settings,
computed off the GUI thread, with a warning when it does not fit the memory free now."""
from PySide6.QtWidgets import QLabel

from layerloom.graph import analyze
from layerloom.presets import preset_path
from layerloom.runtime import memory_report
from layerloom.runtime.memory import estimate_training_memory


def settle(win, qtbot):
    qtbot.waitUntil(lambda: not win._memory_timer.isActive() and win.memory.state != "estimating",
                    timeout=120_000)


def test_summary_shows_the_runtime_estimate_for_the_panels_settings(win, qtbot):
    win.files.open_preset(preset_path("lenet5"))
    assert win.summary.memory.text() in ("", "Training memory: estimating…")   # never a stale or empty figure
    settle(win, qtbot)
    doc = win.document
    expected = estimate_training_memory(doc, 64, "adam", "cpu", analysis=analyze(doc))
    assert win.memory.estimate.peak_bytes == expected.peak_bytes
    assert win.memory.estimate.categories == expected.categories
    assert win.summary.memory.text() == memory_report.headline(expected, breakdown=False)
    assert win.summary.memory.toolTip().startswith(memory_report.headline(expected) + "\n")    # the parts
    assert win.summary.memory.text().startswith("Training memory at batch 64 with Adam on CPU: ")

    win.training.panel.settings.batch_size.setValue(16)      # the Training panel's batch size
    qtbot.waitUntil(lambda: win.memory.state == "estimating" or "batch 16" in win.summary.memory.text(),
                    timeout=10_000)
    settle(win, qtbot)
    expected16 = estimate_training_memory(doc, 16, "adam", "cpu", analysis=analyze(doc))
    assert win.summary.memory.text() == memory_report.headline(expected16, breakdown=False)
    assert expected16.peak_bytes < expected.peak_bytes

    before = win.memory.estimate
    win.session.edit("Move conv1", lambda r: r.move_block("conv1", (260, 40)))
    assert win.document.blocks["conv1"].pos[1] == 40
    win.request_memory_estimate()
    assert win.memory.estimate is before        # moving a block changes no figure: nothing re-estimated


def test_summary_warns_when_the_estimate_does_not_fit(win, qtbot, monkeypatch):
    win.files.open_preset(preset_path("lenet5"))
    doc = win.document
    budget = estimate_training_memory(doc, 20, "adam", "cpu", analysis=analyze(doc)).device_bytes
    monkeypatch.setattr(memory_report, "available_bytes", lambda device: budget)   # a machine short of memory
    settle(win, qtbot)
    check = win.memory.check
    assert not check.fits and check.free_bytes == budget and 18 <= check.largest_batch <= 20
    lines = win.summary.memory.text().split("\n")
    assert lines[0].startswith("Training memory at batch 64 with Adam on CPU")
    assert lines[1] == check.warning and f"lower the batch size to {check.largest_batch}" in lines[1]
    # the Training panel's check says it too, as a warning (it does not stop the run)
    assert ("warning", check.warning, None) in win.training.problems()
    texts = [label.text() for label in win.training.panel.findChildren(QLabel)]
    assert any(check.warning in t for t in texts)
    # and once the data set has loaded it may start, but no green tick says all is well
    win.training.dock.show()
    win.training.dock.raise_()                       # a data set loads once its panel can be seen
    qtbot.waitUntil(lambda: win.training.bundle is not None, timeout=60_000)
    qtbot.waitUntil(lambda: any(label.objectName() == "check-ok" and not label.isHidden()
                                for label in win.training.panel.findChildren(QLabel)), timeout=10_000)
    [ok] = [label for label in win.training.panel.findChildren(QLabel) if label.objectName() == "check-ok"
            and not label.isHidden()]
    assert ok.text() == "Can start despite the warning above: LeNet-5 (61.71K parameters) on mnist-sample."
    assert ok.styleSheet() == "" and "✓" not in ok.text()


def test_graph_with_errors_is_not_estimated(win, qtbot):
    win.files.open_preset(preset_path("lenet5"))
    settle(win, qtbot)
    win.session.edit("break it", lambda r: r.set_param("conv2", "kernel_size", 50))
    settle(win, qtbot)
    assert win.summary.memory.text() == "Training memory: not estimated while the graph has errors"


def test_closing_waits_for_the_estimate_and_asks_for_no_more(win, qtbot):
    win.files.open_preset(preset_path("lenet5"))
    win.request_memory_estimate()
    thread = win.memory.jobs.running
    assert thread is not None and win.summary.memory.text() == "Training memory: estimating…"
    assert win.memory.shutdown()
    assert thread.isFinished() and thread.cancelled and (thread.result is not None or thread.error == "")
    win.training.panel.settings.batch_size.setValue(8)
    win.request_memory_estimate()
    assert win.memory.jobs.running is None and win.memory.jobs.queued is None


def test_the_memory_line_leaves_the_summary_table_room_in_a_small_window(win, qtbot):
    """At 1024×768 the memory line with its parts took three lines under the totals: the Summary's table had a
    row and a half left. The line says the peak; its parts are in its tooltip."""
    win.resize(1024, 768)
    win.files.open_preset(preset_path("lenet5"))
    settle(win, qtbot)
    qtbot.wait(50)
    label = win.summary.memory
    assert label.text().endswith("MiB") and "weights" in label.toolTip() and "activations" in label.toolTip()
    assert label.height() <= label.fontMetrics().lineSpacing() * 2 + 8       # one line (two at most), not three


def test_a_batch_larger_than_the_training_set_is_estimated_at_the_set_it_trains_with(win, qtbot, tmp_path):
    """The run trains with batches of at most the training set's size: once the set has loaded, the line is the
    estimate at the batch the run really uses (that of its `started` event), not the one typed."""
    from layerloom.tests.app.helpers import settings, wait_run_end
    win.files.open_preset(preset_path("lenet5"))
    t = win.training
    t.set_runs_folder(tmp_path / "runs")
    settings(t, batch_size=65_536, epochs=1, max_steps=1)
    t.dock.show()
    t.dock.raise_()
    qtbot.waitUntil(lambda: t.bundle is not None and t.ready, timeout=60_000)
    settle(win, qtbot)
    started = []
    t.training.event.connect(lambda e: e.get("type") == "started" and started.append(e))
    t.start()
    wait_run_end(t, qtbot)
    batch = started[0]["num_train"] // started[0]["steps_per_epoch"]          # one step: the whole set
    doc = win.document
    expected = estimate_training_memory(doc, batch, "adam", "cpu", analysis=analyze(doc))
    settle(win, qtbot)
    assert win.memory.estimate.batch_size == batch < 65_536
    assert win.summary.memory.text() == memory_report.headline(expected, breakdown=False)
    t.shutdown(5000)
