"""At 1280×720 a temporary status-bar message is shown in full: the permanent labels (the analysis summary,
the training status) elide, with their full text in a tooltip, and take their room back afterwards."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QFontMetrics, QFontMetricsF, QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from .helpers import refused_run, settle_layouts
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


def test_in_a_narrow_window_even_the_shortest_form_is_cut_with_an_ellipsis(win, ui, qtbot):
    """The last resort: a run refused at its start leaves "LeNet-5: training failed" (shortest form "training
    failed") beside its long reason; in the narrowest window neither form fits, so as much of the shortest as
    fits is shown, ending in "…", and the whole text is in the tooltip."""
    refused_run(win, ui, qtbot)
    bar, label = win.statusBar(), win.training.status_text
    assert bar.currentMessage().startswith("Training failed: init_from: ")
    win.resize(300, 600)                     # narrower than the window can be: it keeps its minimum width
    settle_layouts()
    assert label.text() == "LeNet-5: training failed" and label.isVisible()
    shown, shortest = label.shown_text(), "training failed"
    room = label.contentsRect().width() - 2        # what ElidedLabel lets text take of its width
    width = QFontMetrics(label.font()).horizontalAdvance
    assert width(shortest) > room                  # so neither form fits ...
    assert shown.endswith("…") and len(shown) > 1 and shortest.startswith(shown[:-1])   # ... the shortest is cut
    assert width(shown) <= room                    # it fits, and it is nearly all that fits (the font
    assert width(shortest[:len(shown) + 1] + "…") > room       # measure may round a character either way)
    assert label.text() in label.toolTip()


def test_in_the_narrowest_window_the_message_itself_is_cut_with_an_ellipsis_and_whole_in_its_tooltip(win, qtbot):
    """Where even the labels' shortest forms leave the message too little room, it is cut as they are: as much
    as fits, ending in "…" (not clipped mid-letter), and pointing at it shows the whole message."""
    show_run_result(win, qtbot, FAILED)
    win.resize(300, 600)                     # narrower than the window can be: it keeps its minimum width
    settle_layouts()
    bar = win.statusBar()
    room = message_room(win) - 6 - 2         # the message starts 6 px in, and stops 2 px before the labels
    width = QFontMetricsF(bar.font()).horizontalAdvance      # as Qt measures what fits: in fractions of pixels
    assert width(FAILED) > room and bar.currentMessage() == FAILED
    at = QPoint(20, bar.height() // 2)       # the pointer rests on the message
    QApplication.sendEvent(bar, QHelpEvent(QEvent.Type.ToolTip, at, bar.mapToGlobal(at)))
    assert QToolTip.isVisible() and QToolTip.text() == FAILED
    QToolTip.hideText()
    shown = bar.shown_message()
    assert shown.endswith("…") and len(shown) > 1 and FAILED.startswith(shown[:-1])
    assert width(shown) <= room < width(FAILED[:len(shown)] + "…")     # it fits, and it is nearly all that fits
    bar.clearMessage()


def test_a_permanent_widget_deleted_without_being_removed_leaves_the_bar_working(qtbot):
    import shiboken6
    from PySide6.QtWidgets import QLabel

    from layerloom.app.status_room import MessageBar
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar.resize(400, 24)
    gone, kept = QLabel("gone"), QLabel("kept")
    bar.addPermanentWidget(gone)
    bar.addPermanentWidget(kept)
    bar.show()
    qtbot.waitExposed(bar)
    shiboken6.delete(gone)                       # as a panel deletes its label without removeWidget
    bar.showMessage("a message " * 20)
    settle_layouts()
    assert bar.message_rect().right() < kept.geometry().left()        # room up to the label still there
    assert bar.shown_message().endswith("…")
    assert not bar.grab().isNull()               # paints
