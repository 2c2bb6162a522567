"""What one block of a trained run learnt: its weight and activation histograms and the top-9 validation
samples of one of its channels (numbers from layerloom.runtime.learnt; this widget only shows them)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QComboBox, QGraphicsItem, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from layerloom.runtime.explain import ExplainError, Recorder
from layerloom.runtime.heatmaps import to_display
from layerloom.runtime.learnt import activation_histogram, tile_grid, top_activating, weight_histograms

from .. import plot_style as ps

WEIGHTS = "#4682b4"
ACTIVATIONS = "#c86e3c"


class BlockLearnt(QWidget):
    def __init__(self, qimage, parent=None):
        super().__init__(parent)
        self._qimage = qimage
        self.subject = None
        col = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Block"))
        self.block = QComboBox()
        self.block.setMinimumWidth(90)
        self.block.currentTextChanged.connect(lambda _t: self.refresh())
        row.addWidget(self.block)
        row.addWidget(QLabel("Channel"))
        self.channel = QSpinBox()
        self.channel.setRange(0, 0)
        self.channel.valueChanged.connect(lambda _v: self._show_top())
        row.addWidget(self.channel)
        row.addStretch(1)
        col.addLayout(row)
        self.message = QLabel("")
        col.addWidget(self.message)
        body = QHBoxLayout()
        self.weights = pg.PlotWidget()
        self.activations = pg.PlotWidget()
        self.titles = {self.weights: "Weights", self.activations: "Activations on validation samples"}
        for plot in (self.weights, self.activations):
            plot.setMinimumWidth(220)
            body.addWidget(plot, 1)
        self.restyle()
        right = QVBoxLayout()
        self.top_title = QLabel("Top-9 validation samples")
        right.addWidget(self.top_title)
        self.top = QLabel()
        self.top.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        right.addWidget(self.top, 1)
        body.addLayout(right)
        col.addLayout(body, 1)
        self.top9: list[dict] = []

    def restyle(self) -> None:
        """The plots in the editor's theme (light or dark), like the training curves."""
        for plot, title in self.titles.items():
            ps.style_widget(plot)
            ps.style_plot(plot.getPlotItem(), left="count",
                          bottom="value", title=title)
            plot.getAxis("left").setWidth(None)        # as wide as the counts need (hundreds of thousands)
            for name in ("left", "bottom"):            # drawn once per block: no cached picture whose ticks
                plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.NoCache)   # lag the new range

    def _title(self, plot, text: str) -> None:
        self.titles[plot] = text
        ps.style_plot(plot.getPlotItem(), title=text)

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle()
        super().changeEvent(event)

    def set_subject(self, subject, blocks: list[str]) -> None:
        self.subject = subject
        self.block.blockSignals(True)
        self.block.clear()
        self.block.addItems(blocks)
        self.block.blockSignals(False)
        self.refresh()

    def _batches(self):
        return [(idx, x) for idx, _, x, _ in self.subject.batches(500)]

    def refresh(self) -> None:
        block = self.block.currentText()
        if self.subject is None or not block:
            return
        self.message.setText("")
        self.weights.clear()
        try:
            hist = weight_histograms(self.subject.model, block)
            counts, edges = hist.get("weight", next(iter(hist.values())))
            self.weights.addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=ps.brush(WEIGHTS),
                                                 pen=ps.pen(WEIGHTS, 1)))
            self._title(self.weights, f"Weights of {block}")
        except ExplainError:
            self._title(self.weights, f"{block} has no weights")
        self.activations.clear()
        try:
            counts, edges = activation_histogram(self.subject.model, self._batches(), block)
        except ExplainError as exc:
            self.message.setText(str(exc))
            return
        self.activations.addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts,
                                                 brush=ps.brush(ACTIVATIONS), pen=ps.pen(ACTIVATIONS, 1)))
        self._title(self.activations, f"Outputs of {block} on validation samples")
        _, x0, _ = self.subject.sample(0)
        rec = Recorder(self.subject.model, [block])
        rec.run(x0)
        a = rec.kept.get(block)
        if a is None:
            self.message.setText(f"{block} gives no tensor of numbers to rank samples by: pick another block")
            return
        channels = a.shape[1] if a.dim() == 4 else a.shape[-1]
        self.channel.blockSignals(True)
        self.channel.setRange(0, channels - 1)
        self.channel.blockSignals(False)
        self._show_top()

    def _show_top(self) -> None:
        block = self.block.currentText()
        if self.subject is None or not block:
            return
        try:
            self.top9 = top_activating(self.subject.model, self._batches(), block, self.channel.value())
        except ExplainError as exc:
            self.message.setText(str(exc))
            return
        raws = [self.subject.sample(t["index"])[0][0].numpy() for t in self.top9]
        if raws and raws[0].ndim == 3:
            tiles = np.stack([to_display(r) for r in raws])
            self.top.setPixmap(QPixmap.fromImage(self._qimage(tile_grid(tiles, scale=3, columns=3))))
        else:
            self.top.setText("\n".join(f"sample {t['index']}: {t['activation']:.3f}" for t in self.top9))
        self.top_title.setText(f"Top-9 validation samples for channel {self.channel.value()} of {block}")
