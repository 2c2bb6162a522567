"""At 1280×720 a temporary status-bar message is shown in full: the permanent labels (the analysis summary,
the training status) elide, with their full text in a tooltip, and take their room back afterwards."""
from __future__ import annotations

from .helpers import settle_layouts
from .test_inspector import open_lenet

STOPPED = "Training stopped: the graph can be edited again."
FAILED = ("Training failed: the loss became NaN at step 212 (learning rate 3.0 is far too high); "
          "lower it in the Training panel and start again. The graph can be edited again.")
AFTER_RUN = "LeNet-5: Epoch 2/2 · step 750/750 · stopped in 0:41"


def message_room(win) -> int:
    """Pixels the bar has for its message: from its left edge to the first permanent widget shown."""
    bar = win.statusBar()
    shown = [w for w in (win._status, win.training.status) if w.isVisible()]
    return min(w.mapTo(bar, w.rect().topLeft()).x() for w in shown)


def show_run_result(win, qtbot, message: str):
    win.resize(1280, 720)
    open_lenet(win)
    win.training.status.show()
    win.training.status_text.setText(AFTER_RUN)
    win.statusBar().showMessage(message, 60_000)
    settle_layouts()        # the bar lays itself out
    assert win.width() == 1280


def test_a_short_message_fits_beside_both_labels_in_full(win, qtbot):
    show_run_result(win, qtbot, STOPPED)
    bar = win.statusBar()
    assert bar.fontMetrics().horizontalAdvance(STOPPED) < message_room(win)
    for label in (win._status, win.training.status_text):
        assert not label.elided() and label.shown_text() == label.text(), (label.width(), label.maximumWidth(), label.full_width(), win.statusBar().width())


def test_a_long_message_fits_and_the_labels_elide_with_a_tooltip(win, qtbot):
    show_run_result(win, qtbot, FAILED)
    bar = win.statusBar()
    summary, status = win._status, win.training.status_text
    assert bar.fontMetrics().horizontalAdvance(FAILED) < message_room(win)
    assert summary.elided() and summary.shown_text().strip() == "✓"      # its shortest form: no errors
    assert "61,706 params" in summary.text()
    assert summary.text() in summary.toolTip() and "2 × MACs" in summary.toolTip()
    assert status.elided() and AFTER_RUN in status.toolTip()
    bar.clearMessage()
    qtbot.waitUntil(lambda: not summary.elided() and not status.elided(), timeout=2000)
    assert summary.shown_text() == summary.text() and status.shown_text() == AFTER_RUN
