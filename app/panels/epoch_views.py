"""After each epoch: the validation confusion matrix, accuracy per class, and a grid of validation
samples with the network's predictions (wrong ones framed in red)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from layerloom.runtime.heatmaps import distinct_cuts

from .. import plot_style as ps
from .sample_grid import SampleGrid

MAX_CELL_TEXT = 12     # classes up to which each cell shows its count
MAX_TICKS = 20         # classes up to which every class is named on the axes
WAITING = "No epoch has finished yet."
WAITING_RESUMED = ("No epoch has finished since the run resumed: the confusion matrix and the predictions "
                   "appear after the next one.")


class EpochViews(ps.NarrowTitles, QWidget):
    narrow_px = 400            # the full titles side by side need about 360 pixels

    def __init__(self, parent=None):
        super().__init__(parent)
        self.class_names: list[str] = []
        self.epoch: dict | None = None
        self._before: tuple | None = None      # what was shown before the run started last (see refused)
        self.header = QLabel(self)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setContentsMargins(8, 2, 8, 2)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.header.setWordWrap(True)       # a narrow dock: the loss on a second line (it changes once an epoch)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.ci.setContentsMargins(4, 4, 8, 4)
        self.conf_plot = self.graphics.addPlot(row=0, col=0, enableMenu=False)   # no context menu is built
        self.conf_image = pg.ImageItem(axisOrder="row-major")
        self.conf_plot.addItem(self.conf_image)
        self.acc_plot = self.graphics.addPlot(row=0, col=1, enableMenu=False)
        self.acc_bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[])
        self.acc_plot.addItem(self.acc_bars)
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        for p in (self.conf_plot, self.acc_plot):
            p.invertY(True)
            p.setMouseEnabled(False, False)
            p.hideButtons()
            p.setMenuEnabled(False)
        self.acc_plot.setYLink(self.conf_plot)
        self.acc_plot.setXRange(0, 100, padding=0.02)
        self.cell_texts = ps.LabelsItem(fit=1.0)       # counts while they fit in their cells
        self.conf_plot.addItem(self.cell_texts)
        self.acc_texts = ps.LabelsItem()
        self.acc_plot.addItem(self.acc_texts)
        self.acc_plot.hideAxis("left")
        self._classes = -1

        self.grid = SampleGrid(cell=40, parent=self)
        scroll = QScrollArea(self)
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # Before the first epoch the Confusion tab says what will appear instead of showing empty axes.
        self.waiting = QLabel(WAITING, self)
        self.waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.waiting.setWordWrap(True)
        self.confusion = QStackedWidget(self)
        self.confusion.addWidget(self.waiting)
        self.confusion.addWidget(self.graphics)
        self.tabs.addTab(self.confusion, "Confusion")
        self.tabs.addTab(scroll, "Samples")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)
        self.restyle()
        self.clear()

    def restyle(self) -> None:
        c = ps.colors()
        ps.style_widget(self.graphics)
        narrow = self.narrow()
        ps.style_plot(self.conf_plot, left="true class", bottom="predicted",
                      title="Confusion" if narrow else "Confusion (row %)")
        ps.style_plot(self.acc_plot, bottom="accuracy %", title="Per class" if narrow else "Accuracy per class")
        self.conf_plot.showGrid(x=False, y=False)
        self.conf_plot.getAxis("left").setWidth(None)     # as wide as the class names: shown, not left out
        self.acc_plot.showGrid(x=True, y=False, alpha=0.15)
        self.header.setStyleSheet(f"color: {c.muted.name()};")
        self.conf_image.setLookupTable(ps.lut("blues-dark" if c.dark else "blues-light", with_background=False))
        if self.epoch is not None:
            self.show_epoch(self.epoch)

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle()
        super().changeEvent(event)

    # -- content ------------------------------------------------------------------------------------
    def clear(self) -> None:
        self.epoch = None
        self.header.setText("The confusion matrix and predictions on validation samples appear after each epoch.")
        self.conf_image.clear()
        self.acc_bars.setOpts(x0=[], y=[], width=[], height=0.7)
        self.cell_texts.set_labels([], QRectF())
        self.acc_texts.set_labels([], QRectF())
        self._classes = -1
        self.confusion.setCurrentWidget(self.waiting)
        self.grid.clear("Validation samples appear after the first epoch.")
        self.tabs.setTabText(1, "Samples")            # not the last run's count of wrong ones

    def start(self, class_names, samples=None, texts=None, resumed: bool = False) -> None:
        """A new run: class names, and the validation samples the trainer reports on (images or texts);
        `resumed`: a stopped run goes on (its earlier epochs' matrices were not kept). What was shown is kept
        in case the run is refused at its start (`refused`)."""
        g = self.grid
        self._before = (self.epoch, self.class_names, self.waiting.text(), g.empty_text,
                        (g.images, g.texts, g.captions, g.marks, g.tips))
        self.clear()
        self.waiting.setText(WAITING_RESUMED if resumed else WAITING)
        self.class_names = list(class_names or [])
        if samples is not None or texts is not None:
            n = len(samples) if samples is not None else len(texts)
            self.grid.set_samples(images=samples, texts=texts, captions=[""] * n)
            self.grid.empty_text = ""

    def ended_before_an_epoch(self, steps, val_accuracy, stopped: bool) -> None:
        """The run ended before its first epoch finished (Max steps, or Stop): say so, with its last validation,
        instead of still waiting for an epoch that will not come."""
        if self.epoch is not None:
            return
        ended = "was stopped" if stopped else "ended (Max steps)"
        steps_text = f" after {steps:,} steps" if isinstance(steps, int) else ""
        score = (f" Its validation at the end: {val_accuracy:.2%} accuracy." if isinstance(val_accuracy, float)
                 else "")
        self.waiting.setText(f"The run {ended}{steps_text}, before its first epoch finished: the confusion matrix "
                             f"and the predictions come with a finished epoch.{score} Train a whole epoch (Max "
                             "steps: no limit, or more steps) to see them.")

    def began(self) -> None:
        """The run started last got past its setup and trains: the view it replaced is not coming back, and is
        not kept (the run before's validation images) while it runs."""
        self._before = None

    def refused(self) -> None:
        """The run started last was refused before its first step: it trained nothing, so the view it
        replaced (the last epoch of the run before, or the note that none has ended) comes back."""
        if self._before is None:
            return
        epoch, names, waiting, empty, samples = self._before
        self._before = None
        self.clear()
        self.class_names = names
        self.waiting.setText(waiting)
        self.grid.set_samples(*samples)
        self.grid.empty_text = empty
        if epoch is not None:
            self.show_epoch(epoch)

    def _name(self, i: int) -> str:
        return self.class_names[i] if 0 <= i < len(self.class_names) else str(i)

    def show_epoch(self, e: dict) -> None:
        self.epoch = e
        self.confusion.setCurrentWidget(self.graphics)
        self.header.setText(f"<b>Epoch {e['epoch']}</b> · validation accuracy <b>{e['val_accuracy'] * 100:.2f}%</b>"
                            f" · loss {e['val_loss']:.4f}")
        self._show_confusion(np.asarray(e["confusion"]))
        self._show_per_class(np.asarray(e["per_class_accuracy"]))
        self._show_predictions(np.asarray(e["val_predictions"]), np.asarray(e["val_labels"]))

    def _show_confusion(self, conf: np.ndarray) -> None:
        n = conf.shape[0]
        rows = conf.sum(axis=1, keepdims=True)
        frac = conf / np.maximum(rows, 1)
        self.conf_image.setImage(frac.astype(np.float32), levels=(0.0, 1.0), autoLevels=False)
        if n != self._classes:       # axes change only with the number of classes
            self._classes = n
            self.conf_plot.getViewBox().setRange(QRectF(0, 0, n, n), padding=0.0)
            step = 1 if n <= MAX_TICKS else max(1, n // 10)
            shown = distinct_cuts([self._name(i) for i in range(n)], 8)      # cut names still differ
            ticks = [(i + 0.5, shown[i]) for i in range(0, n, step)]
            self.conf_plot.getAxis("left").setTicks([ticks])
            self.conf_plot.getAxis("bottom").setTicks([ticks])
            self.acc_plot.getAxis("left").setTicks([[]])
        if n > MAX_CELL_TEXT:
            self.cell_texts.set_labels([], QRectF())
            return
        light, dark = QColor("#ffffff"), QColor("#111827")
        dark_theme = ps.colors().dark
        labels = []
        for i in range(n):
            for j in range(n):
                if conf[i, j]:
                    dark_cell = frac[i, j] > 0.5 if not dark_theme else frac[i, j] < 0.75
                    labels.append((j + 0.5, i + 0.5, str(int(conf[i, j])), light if dark_cell else dark))
        self.cell_texts.set_labels(labels, QRectF(0, 0, n, n))

    def _show_per_class(self, acc: np.ndarray) -> None:
        n = len(acc)
        c = ps.colors()
        brushes = [pg.mkBrush(c.error) if a < 0.5 else ps.brush(ps.ACCURACY, 220) for a in acc]
        self.acc_bars.setOpts(x0=np.zeros(n), y=np.arange(n) + 0.5, width=acc * 100, height=0.7, brushes=brushes,
                              pen=pg.mkPen(None))
        if n <= MAX_TICKS:
            white = QColor("#ffffff")
            self.acc_texts.set_labels([(max(a * 100 - 9, 9), i + 0.5, f"{a * 100:.0f}", white if a * 100 > 18 else c.text)
                                       for i, a in enumerate(acc)], QRectF(0, 0, 100, n))
        else:
            self.acc_texts.set_labels([], QRectF())

    def _show_predictions(self, preds: np.ndarray, labels: np.ndarray) -> None:
        n = min(len(preds), self.grid.count())
        if n == 0:
            return
        captions = [self._name(int(p)) for p in preds[:n]]
        marks = ["right" if int(p) == int(y) else "wrong" for p, y in zip(preds[:n], labels[:n])]
        tips = [f"true: {self._name(int(y))}, predicted: {self._name(int(p))}" for p, y in zip(preds[:n], labels[:n])]
        self.grid.set_marks(captions, marks, tips)
        wrong = marks.count("wrong")
        self.tabs.setTabText(1, f"Samples ({wrong} wrong of {n})")
