"""Plot panels in narrow docks (the Curves and Validation docks side by side on a 1280-pixel screen):
every plot stays in sight, titles shorten, and matrix counts give way to colours when they no longer
fit their cells."""
from __future__ import annotations

import numpy as np
import pytest

from layerloom.app.panels.epoch_views import EpochViews
from layerloom.app.panels.live_plots import LivePlots
from layerloom.app.panels.runs import RunsPanel
from layerloom.runtime.live import LiveRun

from .helpers import mlp_runs


def _settle(qtbot, widget, width, height):
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.wait(50)


def _in_sight(graphics, plot) -> bool:
    rect = graphics.mapFromScene(plot.sceneBoundingRect()).boundingRect()
    return rect.left() >= 0 and rect.right() <= graphics.viewport().width() + 1 and rect.width() > 60


def _run() -> LiveRun:
    live = LiveRun()
    live.apply({"type": "started", "total_steps": 200, "start_step": 0, "epochs": 2, "config": {"lr": 0.01}})
    return live


def _feed(live: LiveRun) -> None:
    for i in range(1, 201):
        live.apply({"type": "step", "step": i, "epoch": 1 + i // 100, "epoch_progress": (i % 100) / 100,
                    "total_steps": 200, "loss": 2.3 * np.exp(-i / 40) + 0.1, "lr": 0.01, "samples_per_s": 1e4})
        if i % 100 == 0:
            live.apply({"type": "epoch_end", "step": i, "epoch": i // 100, "train_loss": 0.3, "val_loss": 0.35,
                        "val_accuracy": 0.9, "lr": 0.01, "seconds": 1.0, "train_seconds": 1.0})


def _fed_plots(qtbot) -> LivePlots:
    """The Curves panel with two epochs of a run drawn."""
    plots = LivePlots()
    qtbot.addWidget(plots)
    live = _run()
    plots.start(live)
    _feed(live)
    plots.refresh()
    return plots


def _lines(doc) -> int:
    """How many lines a text document is laid out in."""
    block, n = doc.begin(), 0
    while block.isValid():
        n += block.layout().lineCount()
        block = block.next()
    return n


def test_the_curves_keep_every_plot_in_sight_in_a_narrow_dock(qtbot):
    plots = _fed_plots(qtbot)
    _settle(qtbot, plots, 900, 320)
    assert "validation" in plots.loss_plot.titleLabel.text and plots.acc_plot.titleLabel.text == "Validation accuracy %"
    assert all(_in_sight(plots.graphics, p) for p in (*plots.plots, plots.heat_plot))
    _settle(qtbot, plots, 420, 320)
    assert "val." in plots.loss_plot.titleLabel.text and plots.acc_plot.titleLabel.text == "Val. accuracy %"
    assert plots.heat_plot.titleLabel.text == "Gradient RMS (log10)"
    note = plots.heat_note       # the empty strip says why, inside it
    assert note.isVisible() and note.text() == "No health sample yet"
    box = plots.heat_plot.getViewBox().boundingRect()
    assert box.contains(note.mapRectToParent(note.boundingRect()))
    assert all(_in_sight(plots.graphics, p) for p in (*plots.plots, plots.heat_plot))
    _settle(qtbot, plots, 900, 320)                  # wide again: the full titles come back
    assert plots.acc_plot.titleLabel.text == "Validation accuracy %"


def test_the_confusion_matrix_shows_counts_only_where_they_fit(qtbot):
    views = EpochViews()
    qtbot.addWidget(views)
    views.start([str(i) for i in range(10)])
    confusion = np.diag(np.full(10, 90)) + 1
    views.show_epoch({"epoch": 1, "val_accuracy": 0.9, "val_loss": 0.3, "confusion": confusion,
                      "per_class_accuracy": np.full(10, 0.9), "val_predictions": np.zeros(0, int),
                      "val_labels": np.zeros(0, int)})

    def counts_drawn() -> bool:
        texts = views.cell_texts
        return texts.fits(texts.deviceTransform(views.graphics.viewportTransform()))

    _settle(qtbot, views, 600, 420)
    assert views.conf_plot.titleLabel.text == "Confusion (row %)" and counts_drawn()
    assert len(views.cell_texts.labels) == 100          # every cell has a count (all are non-zero)
    _settle(qtbot, views, 280, 360)
    assert views.conf_plot.titleLabel.text == "Confusion" and not counts_drawn()
    assert _in_sight(views.graphics, views.conf_plot) and _in_sight(views.graphics, views.acc_plot)


def test_the_runs_list_puts_its_legend_under_the_curves_when_narrow(qtbot, tmp_path):
    runs = tmp_path / "runs"
    mlp_runs(runs)
    panel = RunsPanel(runs)
    qtbot.addWidget(panel)
    _settle(qtbot, panel, 1100, 360)
    panel.tree.selectAll()
    qtbot.wait(50)
    legend, graphics = panel.legend.geometry(), panel.graphics.geometry()
    assert panel.legend.count() == 2 and legend.left() >= graphics.right()            # beside the curves
    assert panel.acc_plot.titleLabel.text == "Validation accuracy %"
    _settle(qtbot, panel, 420, 360)          # beside Validation on a 1280-pixel screen
    legend, graphics = panel.legend.geometry(), panel.graphics.geometry()
    assert legend.top() >= graphics.bottom() and legend.width() >= graphics.width() - 1   # under them
    assert panel.acc_plot.titleLabel.text == "Val. accuracy %"
    assert _in_sight(panel.graphics, panel.acc_plot) and _in_sight(panel.graphics, panel.loss_plot)


def test_the_run_progress_text_grows_a_line_in_a_narrow_dock_instead_of_losing_its_last(qtbot):
    """The Training panel's progress and thread lines wrap to four lines at a 1280-pixel screen's dock
    width: the label takes a fourth line then (one relayout), keeps its height while only the figures
    change, and gives the line back when widened. Every line it lays out is within its height."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from layerloom.app.panels.live_label import LiveLabel
    host = QWidget()
    label = LiveLabel(lines=3, max_lines=5)
    QVBoxLayout(host).addWidget(label)
    qtbot.addWidget(host)
    _settle(qtbot, host, 340, 200)
    spacing = label.fontMetrics().lineSpacing()
    threads = "Threads: 2 (chosen by measuring: 1 thread 9.2 ms, 2 threads 6.1 ms a step)"

    heights = []
    for step in (247, 248, 1250):
        label.setText(f"Epoch 4/30 · step {step}/1,890 · 7,574 samples/s · ETA 0:31<br>{threads}")
        heights.append(label.height())
    assert _lines(label.doc) == 4 and heights == [spacing * 4 + 4] * 3
    assert label.doc.size().height() <= label.height() - 2                  # the last line is drawn whole
    _settle(qtbot, host, 1000, 200)
    assert _lines(label.doc) == 2 and label.height() == spacing * 3 + 4      # never under its three lines
    _settle(qtbot, host, 340, 200)
    assert label.height() == spacing * 4 + 4
    label.setText("")
    assert label.height() == spacing * 3 + 4


def test_the_curves_readout_and_the_epoch_header_wrap_in_a_narrow_dock_instead_of_being_cut(qtbot):
    """Beside each other on a 1280-pixel screen, the Curves readout (step, loss, the last epoch, lr) and
    the Validation header (epoch, accuracy, loss) are each wider than their dock: they take a second
    line there, every word drawn, and one line again when wide."""
    plots = _fed_plots(qtbot)
    _settle(qtbot, plots, 420, 320)
    readout = plots.readout
    assert "lr 0.01" in readout.plain_text() and _lines(readout.doc) == 2
    assert readout.height() == readout.fontMetrics().lineSpacing() * 2 + 4
    assert readout.doc.size().height() <= readout.height() - 2               # the second line is drawn whole
    _settle(qtbot, plots, 1000, 320)
    assert _lines(readout.doc) == 1 and readout.height() == readout.fontMetrics().lineSpacing() + 4

    views = EpochViews()
    qtbot.addWidget(views)
    views.start([str(i) for i in range(10)])
    views.show_epoch({"epoch": 3, "val_accuracy": 0.928, "val_loss": 0.2437, "confusion": np.eye(10, dtype=int),
                      "per_class_accuracy": np.full(10, 0.9), "val_predictions": np.zeros(0, int),
                      "val_labels": np.zeros(0, int)})
    _settle(qtbot, views, 280, 360)
    header = views.header
    width = header.contentsRect().width()
    assert header.fontMetrics().horizontalAdvance("Epoch 3 · validation accuracy 92.80% · loss 0.2437") > width
    assert header.height() >= header.heightForWidth(header.width()) > header.fontMetrics().lineSpacing() * 1.5


@pytest.mark.parametrize("width", [640, 420])        # 420: the readout takes two lines
def test_a_new_run_and_its_first_health_sample_leave_the_curves_laid_out_as_they_were(qtbot, width):
    """Each relayout of the Curves panel regenerates and repaints every axis, holding the GIL the training
    thread waits for: a run's start and its first health sample change what the plots show, not where."""
    plots = _fed_plots(qtbot)
    _settle(qtbot, plots, width, 420)
    live = plots.live
    live.apply({"type": "health", "step": 1, "blocks": {"conv1": {"grad_rms": 0.01, "param_grad_norm": 1.0},
                                                   "fc1": {"grad_rms": 0.001, "param_grad_norm": 1.0}},
                "problems": [], "new_problems": [], "indicators": []})
    plots.refresh()
    qtbot.wait(50)
    assert not plots.heat_note.isVisible()

    def geometry():
        return [p.getViewBox().sceneBoundingRect() for p in (*plots.plots, plots.heat_plot)]

    drawn = geometry()
    plots.preparing()                                  # ▶ Train again: cleared, the same axes kept
    qtbot.wait(50)
    assert geometry() == drawn and plots.heat_note.isVisible()
    plots.start(_run())                                 # the new run's started event
    qtbot.wait(50)
    assert geometry() == drawn
    plots.live.apply({"type": "health", "step": 1, "blocks": {"conv1": {"grad_rms": 0.02, "param_grad_norm": 1.0},
                                                               "fc1": {"grad_rms": 0.002, "param_grad_norm": 1.0}},
                      "problems": [], "new_problems": [], "indicators": []})
    plots.refresh()                                     # its first sample fills the strip
    qtbot.wait(50)
    assert geometry() == drawn and not plots.heat_note.isVisible()
    if width == 420:
        assert plots.readout.shown_lines == 2


def test_a_run_that_ends_before_its_first_health_sample_says_so_in_the_strip(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    _settle(qtbot, plots, 800, 420)
    live = _run()
    plots.start(live)
    assert plots.heat_note.text() == "No health sample yet: samples come every 50 steps."
    assert plots.readout.keep_lines                      # held for the run's readout, which never comes
    assert "curves" in live.apply({"type": "failed", "message": "the loss is not a number", "step": 0})
    plots.refresh()                                       # (the window redraws the curves for that)
    assert plots.heat_note.isVisible() and plots.heat_note.text() == "No health sample: the run ended before its first."
    assert not plots.readout.keep_lines
    plots.preparing()                                     # ▶ Train again: the new run has not ended
    assert plots.heat_note.text() == "No health sample yet: samples come every 50 steps."


def test_the_health_strip_keeps_its_rows_when_its_first_sample_is_shorter_than_its_waiting_text(qtbot):
    """At a width where "waiting for the first sample" needs a second row and "at step 1" would not, the
    strip keeps two rows as samples come and go: a row less would lay out every plot under it again."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from layerloom.app.panels.health_strip import HealthStrip
    panel = QWidget()                     # the strip gives way to its panel's width, as beside the curves
    qtbot.addWidget(panel)
    strip = HealthStrip(panel)
    QVBoxLayout(panel).addWidget(strip)
    panel.show()
    waiting = strip._one_row_width()                 # what one row needs with "waiting for the first sample"
    m = panel.layout().contentsMargins()
    sides = m.left() + m.right()
    _settle(qtbot, panel, waiting - 20 + sides, 80)
    assert strip.width() < waiting and strip.two_rows and strip.when.text() == "no sample yet"
    height = strip.sizeHint().height()
    for step in (1, 51, None, 1):
        strip.set_indicators(SAMPLE if step else None, step)
        qtbot.wait(10)
        assert strip.two_rows and strip.sizeHint().height() == height
    assert strip.when.text() == "step 1"
    _settle(qtbot, panel, waiting + 20 + sides, 80)  # wide enough for the longest: one row, the long words
    assert not strip.two_rows and strip.when.text() == "at step 1"
    strip.set_indicators(None)
    _settle(qtbot, panel, waiting + 4 + sides, 80)   # one row, just, with "–" for every value
    assert not strip.two_rows
    height = strip.sizeHint().height()
    for step in (1, None, 51):                       # the values a sample brings are wider than "–"
        strip.set_indicators(SAMPLE if step else None, step)
        qtbot.wait(10)
        assert not strip.two_rows and strip.sizeHint().height() == height


SAMPLE = [{"key": "gradient", "level": "ok", "value": "0.0031"}, {"key": "dead", "level": "warn", "value": "38 %",
                                                                  "block": "conv2"},
          {"key": "update", "level": "ok", "value": "0.0012"}, {"key": "nonfinite", "level": "ok", "value": "none"}]
