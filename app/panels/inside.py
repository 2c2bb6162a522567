"""A look inside one computation: renders what runtime/inside.py takes apart.

`InsideView.show_result(result)` draws, for the result's kind:
    Conv2d      per input channel: patch × kernel = products (numbers in coloured cells), then the sum,
                the bias and the result next to the value the network computed; the receptive field
    MaxPool2d   the window with the winning element outlined;  AvgPool2d: the window and its mean
    Linear      the largest terms weight × activation, the rest, the bias and the sum
    activations the function's curve with this input and output marked
    LSTM / GRU  the gates of one unit over time, with the hidden state
    Embedding   the token id and the row it looked up
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (QGridLayout, QLabel, QScrollArea, QSizePolicy, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from .. import plot_style as ps

MAX_CHANNELS_SHOWN = 4
GATE_COLOURS = ("#2563eb", "#d97706", "#059669", "#db2777")


def diverging(value: float, scale: float) -> QColor:
    """Blue below zero, white at zero, red above (symmetric around 0)."""
    t = max(-1.0, min(1.0, value / scale)) if scale > 0 else 0.0
    if t >= 0:
        return QColor(255, int(255 * (1 - 0.75 * t)), int(255 * (1 - 0.8 * t)))
    return QColor(int(255 * (1 + 0.8 * t)), int(255 * (1 + 0.55 * t)), 255)


NOT_A_NUMBER = QColor(250, 204, 21)          # amber: a NaN or infinite value, never mistaken for padding


class MatrixView(QWidget):
    """A small 2-D array as coloured cells with their values; an optional cell outlined."""

    def __init__(self, values: np.ndarray, title: str = "", highlight: tuple[int, int] | None = None,
                 cell: int = 30, padding: np.ndarray | None = None, parent=None):
        super().__init__(parent)
        self.values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        # the cells that are padding (a max-pool window's -inf), not a NaN or infinite value of the network
        self.padding = np.zeros(self.values.shape, bool) if padding is None else np.atleast_2d(padding)
        self.title = title
        self.highlight = highlight
        self.cell = cell
        finite = self.values[np.isfinite(self.values)]
        self.scale = float(np.abs(finite).max()) if finite.size else 1.0
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setToolTip(title)

    def sizeHint(self) -> QSize:
        rows, cols = self.values.shape
        return QSize(cols * self.cell + 2, rows * self.cell + 18)

    def text_at(self, r: int, c: int) -> str:
        """What cell (r, c) says: its value, "pad" for padding, "NaN" or "±inf" for a value that is no number."""
        v = self.values[r, c]
        if self.padding[r, c]:
            return "pad"
        if not np.isfinite(v):
            return "NaN" if np.isnan(v) else "inf" if v > 0 else "-inf"
        return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        font = QFont(self.font())
        font.setPixelSize(max(8, self.cell // 3))
        p.setFont(font)
        p.setPen(self.palette().windowText().color())
        p.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignLeft, self.title)
        rows, cols = self.values.shape
        for r in range(rows):
            for c in range(cols):
                v = self.values[r, c]
                rect = QRectF(1 + c * self.cell, 17 + r * self.cell, self.cell - 1, self.cell - 1)
                p.fillRect(rect, diverging(v, self.scale) if np.isfinite(v) else
                           QColor(200, 200, 200) if self.padding[r, c] else NOT_A_NUMBER)
                p.setPen(QColor(30, 30, 30))
                text = self.text_at(r, c)
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        if self.highlight is not None:
            r, c = self.highlight
            p.setPen(QPen(QColor(20, 20, 20), 3))
            p.drawRect(QRectF(1 + c * self.cell, 17 + r * self.cell, self.cell - 1, self.cell - 1))
        p.end()


class FieldView(QWidget):
    """The input image (grey, or RGB for 3 channels) with the receptive field outlined."""

    def __init__(self, image: np.ndarray, field: dict, size: int = 168, parent=None):
        super().__init__(parent)
        img = np.asarray(image, dtype=np.float32)
        img = img.mean(0) if img.shape[0] != 3 else img.transpose(1, 2, 0)
        lo, hi = float(img.min()), float(img.max())
        img = ((img - lo) / (hi - lo if hi > lo else 1.0) * 255).astype(np.uint8)
        self.rgb = np.ascontiguousarray(np.stack([img] * 3, -1) if img.ndim == 2 else img)
        self.field = field
        self.side = size
        self.setFixedSize(size, size)
        self.setToolTip("The input image; the box is what this output pixel can see")

    def paintEvent(self, _event) -> None:
        from PySide6.QtGui import QImage
        h, w, _ = self.rgb.shape
        image = QImage(self.rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        p = QPainter(self)
        scale = min(self.width() / w, self.height() / h)
        p.scale(scale, scale)
        p.drawImage(0, 0, image)
        (r0, r1), (c0, c1) = self.field["rows"], self.field["cols"]
        pen = QPen(QColor("#f97316"), 2 / scale)
        p.setPen(pen)
        p.drawRect(QRectF(c0, r0, c1 - c0 + 1, r1 - r0 + 1))
        p.end()


def _label(text: str, bold: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if bold:
        label.setStyleSheet("font-weight: 600")
    return label


def _agreement(result: dict) -> str:
    actual = result.get("actual")
    if actual is None:
        return ""
    gap = float(np.max(np.abs(np.asarray(result["computed"]) - np.asarray(actual))))
    return f"the network computed {np.asarray(actual).reshape(-1)[0]:.6g}" if np.ndim(actual) == 0 else \
        f"largest difference from the network's own values: {gap:.2g}"


class InsideView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)
        self.clear()

    def clear(self) -> None:
        """Back to the sentence that says what the panel is for, with no arithmetic on it."""
        self.result: dict | None = None
        self.lines: list[str] = []     # the sentences shown, also for tests and screen readers
        self.placeholder = _label("Click a value in a feature map, or choose a block and a position, to see the "
                                  "arithmetic that produced it.")
        self.scroll.setWidget(self.placeholder)

    def show_result(self, result: dict) -> None:
        self.result = result
        self.lines = []
        body = QWidget()
        grid = QVBoxLayout(body)
        kind = result["kind"]
        build = {"Conv2d": self._conv, "MaxPool2d": self._pool, "AvgPool2d": self._pool, "Linear": self._linear,
                 "Embedding": self._embedding, "LSTM": self._gates, "GRU": self._gates}.get(kind, self._curve)
        build(result, grid)
        agreement = _agreement(result)
        if agreement:
            self._say(grid, agreement)
        if not np.all(np.isfinite(np.asarray(result.get("computed", 0.0), dtype=np.float64))):
            self._say(grid, "A value here is not a number (NaN or infinite), so neither is the result: the run's "
                            "training diverged; train again with a lower learning rate.")
        grid.addStretch(1)
        self.scroll.setWidget(body)

    def _say(self, layout, text: str, bold: bool = False) -> None:
        self.lines.append(text)
        layout.addWidget(_label(text, bold))

    def _conv(self, r: dict, layout) -> None:
        i, j = r["position"]
        self._say(layout, f"{r['block']}: channel {r['channel']}, pixel ({i}, {j})", bold=True)
        grid = QGridLayout()
        shown = min(len(r["input_channels"]), MAX_CHANNELS_SHOWN)
        for k in range(shown):
            row = k
            c = r["input_channels"][k]
            grid.addWidget(MatrixView(r["patch"][k], f"input channel {c}"), row, 0)
            grid.addWidget(_label("×"), row, 1)
            grid.addWidget(MatrixView(r["kernel"][k], "kernel"), row, 2)
            grid.addWidget(_label("="), row, 3)
            grid.addWidget(MatrixView(r["products"][k], f"Σ = {r['products'][k].sum():.4g}"), row, 4)
        layout.addLayout(grid)
        if len(r["input_channels"]) > shown:
            rest = r["products"][shown:].sum()
            self._say(layout, f"… and {len(r['input_channels']) - shown} more input channels, whose products add "
                              f"up to {rest:.4g}")
        self._say(layout, f"sum of all products {r['sum']:.6g} + bias {r['bias']:.6g} = {r['computed']:.6g}",
                  bold=True)
        field = r.get("receptive_field")
        if field:
            (r0, r1), (c0, c1) = field["rows"], field["cols"]
            self._say(layout, f"On the input image this pixel sees rows {r0}–{r1} and columns {c0}–{c1} "
                              f"({r1 - r0 + 1}×{c1 - c0 + 1} pixels).")
            if r.get("input_image") is not None:
                layout.addWidget(FieldView(r["input_image"], field))
        elif "receptive_field" in r:
            mixer = r.get("field_mixed_by")
            where = f"{mixer} mixes positions" if mixer else "a block on the way mixes positions"
            self._say(layout, f"On the input image this pixel may depend on any position: {where} (as "
                              "GroupNorm, LayerNorm, Softmax over rows or columns or a Linear do), so no window "
                              "is outlined.")

    def _pool(self, r: dict, layout) -> None:
        i, j = r["position"]
        self._say(layout, f"{r['block']}: channel {r['channel']}, position ({i}, {j})", bold=True)
        self._say(layout, f"The window covers rows {r['rows'][0]}–{r['rows'][-1]} and columns "
                          f"{r['cols'][0]}–{r['cols'][-1]} of the block's input (negative: padding).")
        if r["kind"] == "MaxPool2d":
            wr, wc = r["winner"]
            local = (r["rows"].index(wr), r["cols"].index(wc))
            layout.addWidget(MatrixView(r["window"], "the window", highlight=local,
                                        padding=np.isneginf(np.asarray(r["window"], dtype=np.float64))))
            self._say(layout, f"the largest value, {r['computed']:.6g}, is at row {wr}, column {wc}: it wins")
        else:
            layout.addWidget(MatrixView(r["window"], "the window"))
            self._say(layout, f"mean = {np.nansum(r['window'][np.isfinite(r['window'])]):.6g} / {r['divisor']} "
                              f"= {r['computed']:.6g}")

    def _linear(self, r: dict, layout) -> None:
        self._say(layout, f"{r['block']}: output feature {r['feature']}", bold=True)
        table = QTableWidget(len(r["top_inputs"]), 4)
        table.setHorizontalHeaderLabels(["input", "activation", "weight", "weight × activation"])
        for row, (idx, a, w, t) in enumerate(zip(r["top_inputs"], r["top_activations"], r["top_weights"],
                                                 r["top_terms"])):
            for col, value in enumerate((str(idx), f"{a:.4g}", f"{w:.4g}", f"{t:.4g}")):
                item = QTableWidgetItem(value)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == 3:
                    item.setBackground(diverging(float(t), float(np.abs(r["top_terms"]).max() or 1)))
                    item.setForeground(QColor(20, 20, 20))
                table.setItem(row, col, item)
        table.verticalHeader().setVisible(False)
        table.resizeColumnsToContents()
        table.setMinimumHeight(table.verticalHeader().length() + table.horizontalHeader().height() + 4)
        layout.addWidget(table)
        self._say(layout, f"the {len(r['top_inputs'])} largest terms {float(np.sum(r['top_terms'])):.6g} + all "
                          f"other terms {r['rest']:.6g} + bias {r['bias']:.6g} = {r['computed']:.6g}", bold=True)

    def _plot(self, layout, title: str, left: str, bottom: str) -> pg.PlotItem:
        widget = pg.PlotWidget(viewBox=ps.MenuOnDemand())
        ps.style_widget(widget)
        plot = widget.getPlotItem()
        ps.style_plot(plot, left=left, bottom=bottom, title=title)
        widget.setMinimumHeight(240)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).enableAutoSIPrefix(False)
        layout.addWidget(widget)
        return plot

    def _curve(self, r: dict, layout) -> None:
        self._say(layout, f"{r['block']} ({r['kind']}): value {r['index']}", bold=True)
        plot = self._plot(layout, r["kind"], "output", "input")
        c = ps.colors()
        plot.plot(r["x"], r["y"], pen=pg.mkPen(c.text, width=2))
        plot.plot([r["input"]], [r["computed"]], pen=None, symbol="o", symbolSize=11,
                  symbolBrush=pg.mkBrush(c.error), symbolPen=pg.mkPen(c.error))
        self._say(layout, f"input {r['input']:.6g} → output {r['computed']:.6g}")

    def _gates(self, r: dict, layout) -> None:
        self._say(layout, f"{r['block']} ({r['kind']}): unit {r['unit']}, first layer, at every time step", bold=True)
        plot = self._plot(layout, "gates and hidden state", "value", "time step")
        plot.setYRange(-1.05, 1.6, padding=0)
        legend = plot.addLegend(offset=(5, 2), colCount=3, brush=pg.mkBrush(ps.colors().background))
        legend.setColumnCount(3)
        steps = np.arange(len(r["computed"]))
        for n, (name, values) in enumerate(r["gates"].items()):
            plot.plot(steps, values, pen=ps.pen(GATE_COLOURS[n % len(GATE_COLOURS)], 1.5), name=f"{name} gate")
        plot.plot(steps, r["computed"], pen=pg.mkPen(ps.colors().text, width=3), name="hidden state h")
        self._say(layout, "Gates near 1 let information through, near 0 block it.")

    def _embedding(self, r: dict, layout) -> None:
        word = f" (“{r['word']}”)" if r.get("word") else ""          # labels are plain text: shown as written
        self._say(layout, f"{r['block']}: position {r['position']} holds token id {r['token']}{word}", bold=True)
        row = np.asarray(r["row"]).reshape(1, -1)
        layout.addWidget(MatrixView(row[:, :16], f"row {r['token']} of the table (first {min(16, row.shape[1])} "
                                                 f"of {row.shape[1]} values)", cell=40))
        self._say(layout, "The block's output at this position is exactly this row.")
