"""A parallel-coordinates plot of a sweep's trials (pyqtgraph).

One vertical axis per swept parameter and one for the objective; each trial is a polyline across
them. Log parameters get log axes; categorical ones spread their choices evenly. Completed trials
are blue, the top-k % (by the objective) orange and thicker, pruned ones dashed grey; failed trials
have no value and are left out. Dragging up or down along an axis brushes a range on it: the
trials inside every brushed range are emitted with `brushed` (None when nothing is brushed); a click
on an axis clears its brush. Each style is one curve with NaN breaks, so 500 trials draw at once.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

STYLES = {"complete": ("#4a7fc1", 1, Qt.PenStyle.SolidLine, 150),
          "pruned": ("#9a9a9a", 1.0, Qt.PenStyle.DashLine, 170),
          "top": ("#e8871e", 2.4, Qt.PenStyle.SolidLine, 255)}
AXIS_SNAP = 0.25


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _range_ticks(ax: dict) -> list[tuple[float, str]]:
    """A numeric axis' labels: its two ends; one label in the middle when every trial has one value
    (a range from v to v would be a fake scale); none while no trial has a value on it."""
    if ax.get("empty"):
        return []
    lo, hi = ax["range"]
    shown = (lambda v: 10 ** v) if ax["log"] else (lambda v: v)
    if hi <= lo:
        return [(0.5, f"all = {_fmt(shown(lo))}")]
    return [(0.0, _fmt(shown(lo))), (1.0, _fmt(shown(hi)))]


class _BrushBox(pg.ViewBox):
    def __init__(self, plot):
        super().__init__(enableMenu=False)
        self.plot = plot
        self.setMouseEnabled(False, False)

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        start, now = self.mapSceneToView(ev.buttonDownScenePos()), self.mapSceneToView(ev.scenePos())
        index = round(start.x())
        if abs(start.x() - index) > AXIS_SNAP or not 0 <= index < len(self.plot.axes):
            return
        self.plot.set_brush(index, start.y(), now.y(), final=ev.isFinish())

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            pos = self.mapSceneToView(ev.scenePos())
            index = round(pos.x())
            if abs(pos.x() - index) <= AXIS_SNAP and index in self.plot.brushes:
                self.plot.clear_brush(index)
            ev.accept()
        else:
            ev.ignore()


class ParallelCoordinates(pg.PlotWidget):
    brushed = Signal(object)   # set of trial numbers inside every brush, or None

    def __init__(self, parent=None):
        self.box = _BrushBox(self)
        super().__init__(parent, viewBox=self.box)
        self.setBackground("w")
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.box.setRange(xRange=(-0.35, 0.35), yRange=(-0.19, 1.08), padding=0)
        self.axes: list[dict] = []
        self.numbers = np.zeros(0, dtype=int)
        self.values = np.zeros((0, 0))
        self.brushes: dict[int, tuple[float, float]] = {}
        self._brush_items: dict[int, QGraphicsRectItem] = {}
        self.curves = {}
        for name, (color, width, style, alpha) in STYLES.items():
            c = QColor(color)
            c.setAlpha(alpha)
            pen = pg.mkPen(c, width=width, style=style)
            self.curves[name] = pg.PlotCurveItem(pen=pen, connect="finite", antialias=False)
            self.box.addItem(self.curves[name])
        self.curves["top"].setZValue(5)
        self._decor: list = []
        self._titles: list = []      # (axis, TextItem): the axes' titles
        self._ticks: list = []       # (axis, TextItem): their tick texts
        self._axis_lines = None

    # -- data ----------------------------------------------------------------------------------
    def set_trials(self, rows: list[dict], params: list[tuple[str, object]], objective: str = "val_accuracy",
                   maximize: bool = True, top_fraction: float = 0.1) -> None:
        """rows: results.json rows; params: (path, Distribution) of the swept parameters."""
        rows = [r for r in rows if r.get("state") in ("complete", "pruned")]
        self.axes = [{"label": path.replace("training.", "").replace("blocks.", "").replace(".params.", "."),
                      "key": path,
                      "log": dist.is_log, "choices": list(dist.choices) if dist.kind == "choice" else None}
                     for path, dist in params]
        self.axes.append({"label": objective, "key": None, "log": False, "choices": None})
        n, a = len(rows), len(self.axes)
        raw = np.full((n, a), np.nan)
        for i, r in enumerate(rows):
            for j, ax in enumerate(self.axes):
                v = r.get("value") if ax["key"] is None else r["params"].get(ax["key"])
                if ax["choices"] is not None:
                    raw[i, j] = ax["choices"].index(v) if v in ax["choices"] else np.nan
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    raw[i, j] = math.log10(v) if ax["log"] and v > 0 else (np.nan if ax["log"] else v)
        norm = np.full_like(raw, np.nan)
        for j, ax in enumerate(self.axes):
            col = raw[:, j]
            if ax["choices"] is not None:
                lo, hi = 0.0, float(max(len(ax["choices"]) - 1, 1))
            else:
                finite = col[np.isfinite(col)]
                lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
            ax["range"] = (lo, hi)
            ax["empty"] = ax["choices"] is None and not np.isfinite(col).any()
            norm[:, j] = (col - lo) / (hi - lo) if hi > lo else 0.5
        self.values = norm
        self.numbers = np.array([r["number"] for r in rows], dtype=int)
        states = np.array([r["state"] for r in rows])
        objective_col = raw[:, -1]
        done = np.where((states == "complete") & np.isfinite(objective_col))[0]
        k = max(1, int(round(len(done) * top_fraction))) if len(done) else 0
        order = done[np.argsort(-objective_col[done] if maximize else objective_col[done])]
        top = set(order[:k].tolist())
        groups = {"top": sorted(top), "complete": [i for i in done if i not in top],
                  "pruned": np.where(states == "pruned")[0].tolist()}
        xs = np.append(np.arange(a, dtype=float), np.nan)
        for name, idx in groups.items():
            if not len(idx):
                self.curves[name].setData([], [])
                continue
            ys = np.hstack([norm[idx], np.full((len(idx), 1), np.nan)]).ravel()
            self.curves[name].setData(np.tile(xs, len(idx)), ys)
        self._draw_axes()
        for j in list(self.brushes):
            if j >= a:
                self.clear_brush(j, emit=False)
        self._emit()

    def _draw_axes(self) -> None:
        """Axis lines, tick texts and titles; TextItems are kept and re-texted (creating them is slow)."""
        xs, ys, texts = [], [], []
        for j, ax in enumerate(self.axes):
            xs += [j, j, np.nan]
            ys += [0, 1, np.nan]
            if ax["choices"] is not None:
                ticks = [(i / max(len(ax["choices"]) - 1, 1), _fmt(c)) for i, c in enumerate(ax["choices"])]
            else:
                ticks = _range_ticks(ax)
            texts += [(j, y, text, False) for y, text in ticks]
            texts.append((j, 0.0, ax["label"] + (" (log)" if ax["log"] else ""), True))    # placed by _place
        if self._axis_lines is None:
            self._axis_lines = pg.PlotCurveItem(pen=pg.mkPen("#444", width=1), connect="finite")
            self.box.addItem(self._axis_lines)
            self.box.sigResized.connect(self._place)
        self._axis_lines.setData(np.array(xs, dtype=float), np.array(ys, dtype=float))
        while len(self._decor) < len(texts):
            item = pg.TextItem("", color="#333")
            self.box.addItem(item)
            self._decor.append(item)
        self._titles, self._ticks = [], []
        for item, (x, y, text, title) in zip(self._decor, texts):
            if item.toPlainText() != text:
                item.setText(text, color="#111" if title else "#333")
            item.setAnchor((0.5, 0) if title else (-0.1, 0.5))
            item.setPos(x, y)
            item.setVisible(True)
            (self._titles if title else self._ticks).append((x, item))
        for item in self._decor[len(texts):]:
            item.setVisible(False)
        self._place()

    def _place(self, *_args) -> None:
        """Fit the view to the texts in pixels: the titles below the axes (on two staggered rows only where
        neighbours would overlap), the ends' tick texts above and below, the first and last axes' titles and
        texts inside the sides; whatever the height of the dock, no text is cut off."""
        a = len(self.axes)
        if not a:
            return
        def size(item):                     # in pixels: a TextItem is not scaled with the view
            return item.textItem.boundingRect()
        line = max((size(item).height() for _x, item in self._titles + self._ticks), default=18.0)
        halves = [size(item).width() / 2 for _x, item in self._titles]
        width, height = max(self.box.width(), 1.0), max(self.box.height(), 1.0)
        left = max(halves[0], 6.0) + 2
        last = [1.1 * size(item).width() for x, item in self._ticks if x == a - 1]      # anchored at -0.1
        right = max([halves[-1], *last, 6.0]) + 2
        per_axis = max(width - left - right, 1.0) / max(a - 1, 1)            # pixels from one axis to the next
        stagger = any(h1 + h2 + 8 > per_axis for h1, h2 in zip(halves, halves[1:]))
        top, bottom = line / 2, line / 2 + line * (2 if stagger else 1)
        unit = max(height - top - bottom, 10.0)                               # pixels from 0 to 1
        for x, item in self._titles:
            item.setPos(x, -(line / 2 + (line * 0.85 if stagger and int(x) % 2 else 0.0)) / unit)
        self.box.setRange(xRange=(-left / per_axis, a - 1 + right / per_axis), yRange=(-bottom / unit, 1 + top / unit),
                          padding=0)

    # -- brushing ---------------------------------------------------------------------------------
    def set_brush(self, axis: int, y0: float, y1: float, final: bool = True) -> None:
        lo, hi = sorted((max(0.0, min(1.0, y0)), max(0.0, min(1.0, y1))))
        self.brushes[axis] = (lo, hi)
        item = self._brush_items.get(axis)
        if item is None:
            item = QGraphicsRectItem()
            item.setPen(QPen(QColor("#c0392b"), 0))
            item.setBrush(QBrush(QColor(192, 57, 43, 60)))
            item.setZValue(10)
            self.box.addItem(item)
            self._brush_items[axis] = item
        item.setRect(QRectF(axis - 0.08, lo, 0.16, hi - lo))
        if final:
            self._emit()

    def clear_brush(self, axis: int, emit: bool = True) -> None:
        self.brushes.pop(axis, None)
        item = self._brush_items.pop(axis, None)
        if item is not None:
            self.box.removeItem(item)
        if emit:
            self._emit()

    def selection(self):
        if not self.brushes:
            return None
        keep = np.ones(len(self.numbers), dtype=bool)
        for j, (lo, hi) in self.brushes.items():
            col = self.values[:, j]
            keep &= np.isfinite(col) & (col >= lo - 1e-9) & (col <= hi + 1e-9)
        return set(self.numbers[keep].tolist())

    def _emit(self) -> None:
        self.brushed.emit(self.selection())
