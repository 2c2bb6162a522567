"""Live training curves: loss per step (raw and smoothed) with validation loss per epoch, validation
accuracy, and the learning rate, side by side with a shared step axis and a crosshair readout; the
training-health strip (health_strip.py) runs along their top.

Curves read straight from LiveRun's preallocated buffers (views, no copies) and draw with
pyqtgraph's peak downsampling and clip-to-view, so a run of a million steps costs a redraw no more
than a few thousand points. `refresh()` is called by the training UI's frame timer, never per event.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QGraphicsSimpleTextItem, QLabel, QVBoxLayout, QWidget

from .. import plot_style as ps
from layerloom.runtime.live import LiveRun
from .health_strip import HealthStrip
from .live_label import LiveLabel


NO_RUN = ("No run yet: press ▶ Train (F5) and the loss, validation accuracy and learning rate are drawn here "
          "as it trains.")
ACC_SPAN = 1.0       # percentage points: the least the accuracy axis spans
PREPARING = "Preparing the run: its loss, validation accuracy and learning rate are drawn here once it starts."
HEAT_NOTE = "No health sample yet: samples come every 50 steps."
HEAT_NOTE_ENDED = "No health sample: the run ended before its first."
REFUSED = "The run did not start, so nothing was trained: {reason} Press ▶ Train (F5) again once that is fixed."


def _curve(plot: pg.PlotItem, color: str, width: float = 1.5, alpha: int = 255, symbol: str | None = None,
           name: str | None = None) -> pg.PlotDataItem:
    item = pg.PlotDataItem(pen=ps.pen(color, width, alpha), name=name)
    if symbol:
        _dots(item, color, True)
    else:
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
    item.setSkipFiniteCheck(True)
    plot.addItem(item)
    return item


def _dots(item: pg.PlotDataItem, color: str, on: bool) -> None:
    """Mark each point of a curve with a dot (a curve of one point draws no line at all)."""
    item.setSymbol("o" if on else None)
    if on:
        item.setSymbolSize(6)
        item.setSymbolBrush(ps.brush(color))
        item.setSymbolPen(pg.mkPen(None))


def end_validation(live: LiveRun) -> tuple[float, float, float] | None:
    """(step, val_loss, val_accuracy) of the validation a finished run made at its end because no epoch
    had ended (a run of fewer steps than an epoch: the trainer validates once, with no epoch_end event);
    None otherwise."""
    s = live.summary or {}
    loss, acc = s.get("val_loss"), s.get("val_accuracy")
    if live.state != "finished" or len(live.epochs) or not all(isinstance(v, (int, float)) for v in (loss, acc)):
        return None
    return float(live.step), float(loss), float(acc)


class LivePlots(ps.NarrowTitles, QWidget):
    # The full titles side by side need about 520 pixels: the Curves dock beside the epoch results on a
    # 1280-pixel screen is narrower.
    narrow_px = 560

    def __init__(self, parent=None):
        super().__init__(parent)
        self.live: LiveRun | None = None
        self._one_step = False            # the step curves hold a single point: drawn as dots
        # changes ~10 times a second: relaid out only when it needs a second line (a narrow dock)
        self.readout = LiveLabel(indent=8, parent=self, max_lines=2)
        self.readout.setObjectName("readout")
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.ci.setContentsMargins(4, 4, 8, 4)
        self.graphics.ci.setSpacing(10)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.health = HealthStrip(self)
        layout.addWidget(self.readout)
        layout.addWidget(self.health)
        layout.addWidget(self.graphics, 1)
        # Before any run: a sentence instead of empty axes (pyqtgraph shows −400…400 without data).
        self.placeholder = QLabel(NO_RUN, self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        layout.addWidget(self.placeholder, 1)

        # The loss large on the left; validation accuracy and the learning rate stacked on the right.
        self.loss_plot = self.graphics.addPlot(row=0, col=0, rowspan=2, viewBox=ps.MenuOnDemand())
        self.acc_plot = self.graphics.addPlot(row=0, col=1, viewBox=ps.MenuOnDemand())
        self.lr_plot = self.graphics.addPlot(row=1, col=1, rowspan=2, viewBox=ps.MenuOnDemand())
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        # Under the curves, on the same step axis: the blocks × steps health strip (output-gradient RMS
        # per block, log10), filled as health samples arrive.
        self.heat_plot = self.graphics.addPlot(row=2, col=0, viewBox=ps.MenuOnDemand())
        self.heat_image = pg.ImageItem(axisOrder="row-major")
        self.heat_plot.addItem(self.heat_image)
        self.heat_plot.invertY(True)
        self.heat_plot.setMouseEnabled(False, False)
        self.heat_plot.setXLink(self.loss_plot)
        # Until the run's first health sample, a note in the empty strip says so. Its title stays the same:
        # a title that changed length would change the plot's least width, and so lay out and redraw every
        # plot of the panel twice at each run's start, while the training thread waits for the GIL.
        self.heat_note = QGraphicsSimpleTextItem(self.heat_plot.getViewBox())
        self.heat_plot.getViewBox().sigResized.connect(self._place_heat_note)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 3)
        self.graphics.ci.layout.setRowStretchFactor(2, 2)
        self._heat_samples = -1
        self._heat_blocks = 0
        self._heat_ended = False
        self.plots = (self.loss_plot, self.acc_plot, self.lr_plot)
        self.raw = _curve(self.loss_plot, ps.LOSS, 1.0, 110)
        self.smooth = _curve(self.loss_plot, ps.LOSS, 2.2)
        self.val_loss = _curve(self.loss_plot, ps.VAL_LOSS, 2.0, symbol="o")
        self.accuracy = _curve(self.acc_plot, ps.ACCURACY, 2.0, symbol="o")
        self.lr = _curve(self.lr_plot, ps.LR, 1.8)
        for p in self.plots[1:]:
            p.setXLink(self.loss_plot)
        self.lr_plot.getAxis("left").enableAutoSIPrefix(False)
        self.cursors = []
        for p in self.plots:
            line = pg.InfiniteLine(angle=90, movable=False)
            line.setVisible(False)
            line.setZValue(20)
            p.addItem(line, ignoreBounds=True)
            self.cursors.append(line)
            p.setMenuEnabled(True)
            p.hideButtons()
        self._hover_step: float | None = None
        self.ranges = {"loss": ps.StickyRange(), "acc": ps.StickyRange(floor_zero=False), "lr": ps.StickyRange()}
        self._mouse = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._mouse_moved)
        self.restyle()
        self.clear()

    # -- looks ------------------------------------------------------------------------------------
    def restyle(self) -> None:
        narrow = self.narrow()
        ps.style_widget(self.graphics)
        validation = "val." if narrow else "validation"
        ps.style_plot(self.loss_plot, bottom="step",
                      title=f"Loss: <span style='color:{ps.LOSS}'>train</span> · "
                            f"<span style='color:{ps.VAL_LOSS}'>{validation}</span>")
        ps.style_plot(self.acc_plot, title="Val. accuracy %" if narrow else "Validation accuracy %")
        ps.style_plot(self.lr_plot, bottom="step", title="Learning rate")
        ps.style_plot(self.heat_plot, title=self._heat_title())
        self.heat_plot.showGrid(x=False, y=False)
        self.heat_image.setLookupTable(ps.lut("blues-dark" if ps.colors().dark else "blues-light",
                                              with_background=False))
        c = ps.colors()
        self.heat_note.setBrush(c.muted)
        self.heat_note.setFont(ps.small_font(-1))
        self._place_heat_note()
        for line in self.cursors:
            line.setPen(pg.mkPen(c.muted, width=1, style=Qt.PenStyle.DashLine))
        if self.live is not None:
            self._show_readout(self._hover_step)      # its colours are part of the text
    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle()
        super().changeEvent(event)

    # -- data ----------------------------------------------------------------------------------------
    def clear(self) -> None:
        for r in self.ranges.values():
            r.reset()
        for item in (self.raw, self.smooth, self.val_loss, self.accuracy, self.lr):
            item.setData([], [])
        self.heat_image.clear()
        self.heat_plot.getAxis("left").setTicks([[]])
        self._heat_samples = -1
        self._heat_blocks = 0
        self._heat_ended = False           # the run ended without a health sample (refresh says so)
        self._place_heat_note()
        self.readout.hold_lines(self.live is not None)    # a run is starting: its readout comes soon
        self.readout.setText("Loss, validation and learning rate appear here while a run trains.")
        self.health.clear()
        self.health.setVisible(self.live is not None)
        self.graphics.setVisible(self.live is not None)
        self.placeholder.setVisible(self.live is None)
        self.placeholder.setText(NO_RUN)

    def preparing(self) -> None:
        """A run was started and has sent nothing yet: the last run's axes stay, empty, until it does (no
        layout change now and another when it starts), or a sentence says it is coming."""
        self.clear()
        if self.live is None:
            self.placeholder.setText(PREPARING)

    def refused(self, reason: str) -> None:
        """The run started last was refused before its first step: a sentence says so, where its curves
        were being prepared (or where the run before it was drawn, cleared when it was started)."""
        self.live = None
        self.clear()
        reason = reason.strip() or "it ended without saying why"
        self.placeholder.setText(REFUSED.format(reason=reason if reason.endswith((".", "!", "?")) else f"{reason}."))

    def start(self, live: LiveRun) -> None:
        """A new run: empty curves, the step axis spanning the whole planned run."""
        self.live = live
        self.clear()
        self.graphics.show()
        self.health.show()
        self.placeholder.hide()
        total = max(1, live.total_steps)         # from step 0: a resumed run's earlier epochs show too
        self.loss_plot.setXRange(0, total, padding=0.02)
        for p in self.plots:
            p.disableAutoRange()
        self.loss_plot.setXRange(0, total, padding=0.02)
        self.refresh()

    def refresh(self) -> None:
        live = self.live
        if live is None:
            return
        s, e = live.steps, live.epochs
        loss_hi = -np.inf
        if len(s):
            x = s.col("step")
            loss, lr = s.col("loss"), s.col("lr")
            self.raw.setData(x, loss)
            self.smooth.setData(x, s.col("smooth"))
            self.lr.setData(x, lr)
            if (len(x) == 1) != self._one_step:      # a run that ended after its first step event
                self._one_step = len(x) == 1
                _dots(self.smooth, ps.LOSS, self._one_step)
                _dots(self.lr, ps.LR, self._one_step)
            # Scale to the loss after its first tenth (as TensorBoard ignores outliers): the opening
            # steps' large values may leave the top, the part that is still changing gets the room.
            loss_hi = float(np.nanmax(s.col("smooth")[len(x) // 10:])) * 1.1
            self._set_y(self.lr_plot, "lr", 0.0, float(np.nanmax(lr)))
        end = end_validation(live)
        if len(e) or end is not None:
            ex, val_loss, acc = (e.col("step"), e.col("val_loss"), e.col("val_accuracy") * 100) if end is None \
                else (np.array([end[0]]), np.array([end[1]]), np.array([end[2] * 100]))
            self.val_loss.setData(ex, val_loss)
            self.accuracy.setData(ex, acc)
            loss_hi = max(loss_hi, float(np.nanmax(val_loss)))
            lo, hi = float(np.nanmin(acc)), float(np.nanmax(acc))
            mid = (lo + hi) / 2            # a flat accuracy spans a point or more, not ticks of 9.9995 and 10.0005
            self._set_y(self.acc_plot, "acc", min(lo, mid - ACC_SPAN / 2), max(hi, mid + ACC_SPAN / 2))
        if np.isfinite(loss_hi):
            self._set_y(self.loss_plot, "loss", 0.0, loss_hi)
        if len(live.health_steps) != self._heat_samples:
            self._show_heat(live)
        self._show_readout(self._hover_step)   # the values at the step under the mouse, or the latest ones
        ended = live.ended
        if len(s) or ended:
            self.readout.hold_lines(False)      # the run's own readout is shown (or none will be): lines decide
        if not self._heat_blocks and ended != self._heat_ended:
            self._heat_ended = ended
            self._place_heat_note()             # a run that ended before its first sample says so

    def _heat_title(self) -> str:
        return "Gradient RMS (log10)" if self._narrow else "Gradient RMS per layer (log10)"

    def _place_heat_note(self) -> None:
        """The empty strip's note, centred in it; hidden once the strip has a sample."""
        note, box = self.heat_note, self.heat_plot.getViewBox().boundingRect()
        text = HEAT_NOTE_ENDED if self._heat_ended else HEAT_NOTE
        if QFontMetricsF(note.font()).horizontalAdvance(text) > box.width() - 8:
            text = text.split(":")[0]           # a narrow strip: the first words
        if note.text() != text:
            note.setText(text)
        note.setVisible(not self._heat_blocks)
        size = note.boundingRect()
        note.setPos(box.center().x() - size.width() / 2, box.center().y() - size.height() / 2)

    def _show_heat(self, live: LiveRun) -> None:
        """The blocks × steps strip: one row per block, one column per health sample, log10 of the
        output-gradient RMS scaled over what has been seen; blocks not measured stay blank."""
        self._heat_samples = len(live.health_steps)
        blocks = list(live.health_grad)
        if not blocks or not live.health_steps:
            return
        first = not self._heat_blocks
        self._heat_blocks = len(blocks)
        if first:
            self._place_heat_note()             # the strip has a sample: its note goes
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(np.array([live.health_grad[b] for b in blocks], dtype=np.float64))
        known = np.isfinite(logs)
        lo, hi = (float(logs[known].min()), float(logs[known].max())) if known.any() else (0.0, 1.0)
        image = np.where(known, (logs - lo) / max(hi - lo, 1e-9), np.nan).astype(np.float32)
        steps = live.health_steps
        every = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else 50.0
        self.heat_image.setImage(image, levels=(0.0, 1.0), autoLevels=False)
        self.heat_image.setRect(pg.QtCore.QRectF(steps[0] - every / 2, 0, every * len(steps), len(blocks)))
        self.heat_plot.setYRange(0, len(blocks), padding=0)
        fits = max(1, int(self.heat_plot.getViewBox().height() // 13))       # labels of ~13 px that fit
        every_nth = -(-len(blocks) // fits)
        ticks = [(i + 0.5, b[:12]) for i, b in enumerate(blocks) if i % every_nth == 0]
        self.heat_plot.getAxis("left").setTicks([ticks])
        self.heat_plot.setToolTip(f"Output-gradient RMS of each layer with weights at each health sample "
                                  f"(the stronger the colour, the larger), log10 from "
                                  f"10^{lo:.1f} (faint) to 10^{hi:.1f} (strong); a column every {every:.0f} steps. "
                                  f"Explain Predictions ▸ Health shows the run's other statistics.")

    def _set_y(self, plot: pg.PlotItem, name: str, lo: float, hi: float) -> None:
        """Change a plot's y range only when the data leaves it: steady ticks, cached axes."""
        new = self.ranges[name].update(lo, hi)
        if new is not None:
            plot.setYRange(*new, padding=0)

    # -- crosshair --------------------------------------------------------------------------------
    def _mouse_moved(self, args) -> None:
        pos = args[0]
        step = None
        for p in self.plots:
            if p.sceneBoundingRect().contains(pos):
                step = p.getViewBox().mapSceneToView(pos).x()
                break
        self._hover_step = step
        for line in self.cursors:
            line.setVisible(step is not None)
            if step is not None:
                line.setPos(step)
        self._show_readout(step)

    def leaveEvent(self, event) -> None:
        self._hover_step = None
        for line in self.cursors:
            line.setVisible(False)
        self._show_readout(None)
        super().leaveEvent(event)

    def _show_readout(self, step: float | None) -> None:
        """The values at the step under the mouse, or the latest ones."""
        live = self.live
        if live is None or not len(live.steps):
            return
        s, e = live.steps, live.epochs
        xs = s.col("step")
        i = len(xs) - 1 if step is None else int(np.clip(np.searchsorted(xs, step), 0, len(xs) - 1))
        if step is not None and i > 0 and abs(xs[i - 1] - step) < abs(xs[i] - step):
            i -= 1
        c = ps.colors()
        parts = [f"<b style='color:{c.text.name()}'>step {int(xs[i]):,}</b>",
                 f"<span style='color:{ps.LOSS}'>loss {s.col('loss')[i]:.4f}</span> ({s.col('smooth')[i]:.4f} smoothed)"]
        if len(e):
            ex = e.col("step")
            j = int(np.searchsorted(ex, xs[i], side="right")) - 1   # the last epoch ended at or before it
            if j >= 0:
                parts.append(f"epoch {int(e.col('epoch')[j])}: <span style='color:{ps.VAL_LOSS}'>val loss "
                             f"{e.col('val_loss')[j]:.4f}</span>, <span style='color:{ps.ACCURACY}'>"
                             f"acc {e.col('val_accuracy')[j] * 100:.2f}%</span>")
        parts.append(f"<span style='color:{ps.LR}'>lr {s.col('lr')[i]:.3g}</span>")
        self.readout.setText(" · ".join(parts))
