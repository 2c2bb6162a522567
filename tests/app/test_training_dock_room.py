"""On a small laptop's 1280x800 window the Training dock shows its common settings without scrolling:
rows that do not apply (momentum without SGD, the decay rows without a step schedule) are hidden, not
greyed out, and the run's progress lines take room only once there is a run to report."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt

from layerloom.presets import preset_path

from .helpers import settle_layouts

COMMON = ("optimizer", "lr", "batch_size", "epochs", "loss", "device")


def in_view(scroll, widget) -> bool:
    viewport = scroll.viewport()
    top_left = widget.mapTo(viewport, QPoint(0, 0))
    return widget.isVisible() and viewport.rect().contains(QRect(top_left, widget.size()))


def test_the_common_settings_show_without_scrolling_at_1280x800(win, qtbot, tmp_path):
    t = win.training
    t.set_runs_folder(tmp_path / "runs")
    win.resize(1280, 800)
    win.files.open_preset(preset_path("lenet5"))
    t.dock.show()
    t.dock.raise_()
    qtbot.waitUntil(lambda: t.ready, timeout=20_000)
    settle_layouts()
    panel = t.panel
    form = panel.settings
    scroll = next(a for a in panel.findChildren(type(panel.check_scroll)) if a.widget().isAncestorOf(form))
    assert scroll.verticalScrollBar().value() == 0
    hidden = [name for name in COMMON if not in_view(scroll, getattr(form, name))]
    assert not hidden, f"scrolled out of sight at 1280x800: {hidden}"
    assert not form.momentum.isVisible() and not form.step_size.isVisible()      # Adam, no schedule
    assert not panel.progress_text.isVisible()                                     # no run yet
    form.optimizer.setCurrentIndex(form.optimizer.findData("sgd"))
    form.schedule.setCurrentIndex(form.schedule.findData("step"))
    assert form.momentum.isVisible() and form.momentum.isEnabled()
    assert form.step_size.isVisible() and form.gamma.isVisible() and form.gamma.isEnabled()
    panel.set_progress(0.5, "Epoch 1/5 · step 10/100")
    assert panel.progress_text.isVisible() and panel.progress.isVisible()


def test_a_finished_runs_message_shows_every_line_with_the_feature_maps_below(win, qtbot, tmp_path):
    """At 1280×760 with the Feature maps dock open under the Training dock, the note that says where the
    checkpoint went showed two of its three lines: the run folder's name was cut off."""
    t = win.training
    t.set_runs_folder(tmp_path / "runs")
    win.resize(1264, 760)
    win.files.open_preset(preset_path("lenet5"))
    maps = win.docks["feature_maps"]
    maps.show()
    t.dock.show()
    t.dock.raise_()
    qtbot.waitUntil(lambda: t.ready, timeout=20_000)
    settle_layouts()
    win.resizeDocks([t.dock, maps], [290, 420], Qt.Orientation.Vertical)     # as a run left them
    panel = t.panel
    panel.show_message("Run finished, validation accuracy 97.00%. Checkpoint and metrics are in "
                       "20261201-093644-lenet-5-a-longer-name (Runs tab).")
    panel.set_progress(1.0, "Epoch 5/5 · step 315/315 · finished in 0:19<br>Threads: 1 (chosen by measuring: "
                            "1 thread 48.5 ms, 2 threads 809.9 ms a step)")
    settle_layouts()
    message = panel.message
    assert message.heightForWidth(message.width()) > 3 * message.fontMetrics().lineSpacing()   # wraps to 3+ lines
    assert message.height() >= message.heightForWidth(message.width())
