"""Feature maps: what the selected block computes for the probe sample, live while training.

Channel images (C×H×W) are tiled into one mosaic drawn by a single ImageItem through a colour map
(one texture upload per update, however many channels); a Linear's output is a bar per feature
(a heatmap when there are too many to read as bars); a recurrent block's hidden state over time is
a T×H heatmap. Beside it: the probe sample itself and the network's current top predictions.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal, QEvent, QRectF, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from layerloom.graph.blocks import REGISTRY
from layerloom.runtime.heatmaps import distinct_cuts

from .. import plot_style as ps
from .live_label import LiveLabel

MAX_BARS = 128       # more features than this show as a heatmap
TOP_K = 5            # predictions listed


def mosaic(maps: np.ndarray, aspect: float = 1.0, gap: int = 1) -> np.ndarray:
    """Tile uint8 [C, H, W] into one 2-D uint8 image with `gap`-pixel seams of value 0 (the background
    entry of the colour map); channel values are lifted to 1..255. Columns are chosen so the mosaic's
    shape is close to `aspect` (width / height of the view)."""
    c, h, w = maps.shape
    cols = int(np.clip(math.ceil(math.sqrt(c * aspect * h / max(w, 1))), 1, c))
    rows = math.ceil(c / cols)
    tiles = np.zeros((rows * cols, h, w), dtype=np.uint8)
    np.maximum(maps, 1, out=tiles[:c])
    out = np.zeros((rows, h + gap, cols, w + gap), dtype=np.uint8)
    out[:, :h, :, :w] = tiles.reshape(rows, cols, h, w).transpose(0, 2, 1, 3)
    return out.reshape(rows * (h + gap), cols * (w + gap))[:rows * (h + gap) - gap, :cols * (w + gap) - gap]


def square_grid(values: np.ndarray) -> np.ndarray:
    """A 1-D uint8 array laid out as a near-square 2-D image (missing cells: background 0)."""
    n = len(values)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros(rows * cols, dtype=np.uint8)
    np.maximum(values, 1, out=out[:n])
    return out.reshape(rows, cols)


def probe_image(arr: np.ndarray) -> np.ndarray | None:
    """A probe sample as a displayable image: [H, W] grey or [H, W, 3] RGB uint8 (None if not an image)."""
    if arr is None or arr.dtype != np.uint8:
        return None
    if arr.ndim == 3 and arr.shape[0] == 1:
        return arr[0]
    if arr.ndim == 3 and arr.shape[0] == 3:
        return np.ascontiguousarray(arr.transpose(1, 2, 0))
    if arr.ndim == 2:
        return arr
    return None


def decode_tokens(ids, vocabulary, limit: int = 40) -> str:
    words = [vocabulary[int(i)] if 0 <= int(i) < len(vocabulary) else "?" for i in np.asarray(ids).reshape(-1)
             if int(i) != 0]
    text = " ".join(words[:limit])
    return text + (" …" if len(words) > limit else "")


def _image_view(plot: pg.PlotItem) -> None:
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    plot.setAspectLocked(True)
    plot.invertY(True)
    plot.setMouseEnabled(False, False)
    plot.hideButtons()
    plot.setMenuEnabled(False)


class FeatureMapsPanel(QWidget):
    pixel_clicked = Signal(str, int, int, int, int)   # block, channel, row, column, probe sample index
    maps_shown = Signal(str)                          # a block whose channel images are on screen

    def __init__(self, parent=None):
        super().__init__(parent)
        self.block: str | None = None
        self.block_kind = ""
        self.class_names: list[str] = []
        self.vocabulary: tuple = ()
        self.probe_label: int | None = None
        self.current: dict | None = None
        self.mode = "none"
        self._grid: tuple[int, int, int, int] | None = None   # rows, cols, h, w of the shown mosaic

        self.title = LiveLabel(lines=2, muted=False, parent=self, max_lines=3)   # its step changes with every capture
        self.main = pg.GraphicsLayoutWidget(self)
        self.main.ci.setContentsMargins(2, 2, 2, 2)
        self.plot = self.main.addPlot(enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.plot.addItem(self.bars)
        self.hint = QLabel(self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)

        # Below the maps: the probe sample and the network's top predictions for it, side by side.
        self.side = pg.GraphicsLayoutWidget(self)
        self.side.ci.setContentsMargins(0, 0, 0, 0)
        self.side.setFixedHeight(120)
        self.side.hide()               # until a run gives it a probe sample (no empty box before that)
        self.probe_plot = self.side.addPlot(row=0, col=0, enableMenu=False)
        self.probe_item = pg.ImageItem(axisOrder="row-major")
        self.probe_plot.addItem(self.probe_item)
        _image_view(self.probe_plot)
        self.probe_plot.setFixedWidth(112)
        self.probe_text = QLabel(self)
        self.probe_text.setWordWrap(False)
        self.probe_text.setTextFormat(Qt.TextFormat.RichText)
        self.probe_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.prob_plot = self.side.addPlot(row=0, col=1, enableMenu=False)
        self.prob_bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[])
        self.prob_plot.addItem(self.prob_bars)
        self.prob_plot.setMouseEnabled(False, False)
        self.prob_plot.hideButtons()
        self.prob_plot.setMenuEnabled(False)
        self.prob_plot.invertY(True)
        self.prob_plot.setXRange(0, 1, padding=0)
        self.prob_plot.hideAxis("left")
        self.prob_plot.hideAxis("bottom")
        self.prob_plot.setYRange(-0.6, TOP_K - 0.4, padding=0)
        self.prob_labels = ps.LabelsItem(align="left", delta=-1)
        self.prob_plot.addItem(self.prob_labels)

        box = QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        box.setSpacing(3)
        box.addWidget(self.title)
        box.addWidget(self.main, 1)
        box.addWidget(self.hint, 1)
        box.addWidget(self.probe_text)
        box.addWidget(self.side)
        self.main.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumWidth(240)
        self._mouse = pg.SignalProxy(self.main.scene().sigMouseMoved, rateLimit=30, slot=self._hover)
        self.main.scene().sigMouseClicked.connect(self._clicked)
        self.restyle()
        self.show_block(None)

    # -- looks ------------------------------------------------------------------------------------
    def restyle(self) -> None:
        c = ps.colors()
        for w in (self.main, self.side):
            ps.style_widget(w)
        ps.style_plot(self.plot)
        ps.style_plot(self.prob_plot)
        self.prob_plot.showGrid(x=True, y=False, alpha=0.12)
        self.hint.setStyleSheet(f"color: {c.muted.name()};")
        self.probe_text.setStyleSheet(f"color: {c.muted.name()};")
        self.lut = ps.lut("viridis")
        if self.mode in ("image", "heat"):
            self.image.setLookupTable(self.lut)
        self._render_prediction(getattr(self, "_prediction", None))

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle()
        super().changeEvent(event)

    # -- what to show -----------------------------------------------------------------------------
    def set_run_info(self, class_names, vocabulary=(), probe_input=None, probe_label=None, probe_index=0) -> None:
        """A new run: class names for the bars and the probe sample it follows."""
        self.class_names = list(class_names or [])
        self.vocabulary = tuple(vocabulary or ())
        self.probe_label = probe_label
        self.side.setVisible(probe_input is not None)
        img = probe_image(probe_input) if probe_input is not None else None
        label = self.class_names[probe_label] if probe_label is not None and probe_label < len(self.class_names) \
            else probe_label
        label = html.escape(str(label))          # a name from the data set's files, shown in rich text as written
        self.probe_plot.setVisible(img is not None)
        if img is not None:
            self.probe_item.setImage(img, levels=(0, 255), autoLevels=False)
            self.probe_plot.getViewBox().setRange(QRectF(0, 0, img.shape[1], img.shape[0]), padding=0.02)
            self.probe_text.setText(f"Probe: validation sample #{probe_index}, label <b>{label}</b> · prediction:")
        elif probe_input is not None and self.vocabulary:
            text = html.escape(decode_tokens(probe_input, self.vocabulary))
            self.probe_text.setText(f"Probe: “{text}” · label <b>{label}</b>")
        else:
            self.probe_text.setText("" if probe_input is None else f"Probe sample #{probe_index} · label <b>{label}</b>")
        self._prediction = None
        self._render_prediction(None)

    def show_block(self, block_id: str | None, kind: str = "", event: dict | None = None,
                   running: bool = False, note: str = "") -> None:
        """Follow a block (None: nothing selected); `event` is its latest capture, if any; `note` says why
        there is nothing to show for it."""
        self.block, self.block_kind = block_id, kind
        self.current = None
        self._grid = None
        if note:
            self._set_hint(note)
        elif block_id is None:
            self._set_hint("Click a block on the canvas to see what it computes for the probe sample.")
        elif event is None:
            self._set_hint(f"Waiting for {block_id}'s activations…" if running else
                           f"Start training to see what {block_id} computes for a validation sample.")
        else:
            self.set_maps(event)

    def _set_hint(self, text: str) -> None:
        self.mode = "none"
        self.title.setText(f"<b>{self.block}</b> · {self.block_kind}" if self.block else "<b>No block selected</b>")
        self.hint.setText(text)
        self.hint.show()
        self.main.hide()

    def set_maps(self, event: dict) -> None:
        """Show one feature_maps event of the followed block."""
        if event.get("block") != self.block:
            return
        self.current = event
        self.hint.hide()
        self.main.show()
        kind = event["kind"]
        shape = "×".join(str(s) for s in event.get("shape", ()))
        if kind == "image":
            what = f"{event.get('channels', len(event['maps']))} channels of {event['maps'].shape[1]}×{event['maps'].shape[2]}"
        elif kind == "sequence":
            what = self._sequence_axes(event["maps"].shape)[0]
        else:
            what = f"{len(event['values'])} features"
        if kind == "image" and event.get("channels", 0) > event["maps"].shape[0]:
            what += f" (first {event['maps'].shape[0]} shown)"
        self.title.setText(f"<b>{self.block}</b> · {self.block_kind} · {shape} · {what} · step {event['step']:,}")
        if kind == "image":
            self._show_image(event["maps"])
            self.maps_shown.emit(self.block)
        elif kind == "sequence":
            _, axes, transpose = self._sequence_axes(event["maps"].shape)
            self._show_heat(np.ascontiguousarray(event["maps"].T if transpose else event["maps"]), axes=axes)
        elif len(event["values"]) > MAX_BARS:
            self._show_heat(square_grid(event["maps"]), axes=None)
        else:
            self._show_bars(event["values"])

    def _sequence_axes(self, shape) -> tuple[str, tuple[str, str], bool]:
        """(words for the title, (x label, y label), whether to transpose) for a 2-D activation: a recurrent
        block's T×H hidden state runs along x; a C×L block (Conv1d, MaxPool1d) has its channels as rows;
        anything else is drawn as it is, rows being its first dimension."""
        kind = REGISTRY.get(self.block_kind)
        if kind is not None and kind.category == "Recurrent":
            return "hidden state over time (x: time step, y: unit)", ("time step", "unit"), True
        if kind is not None and kind.expected_rank and kind.expected_rank[1].startswith("C×L"):
            return "channels along the sequence (x: position, y: channel)", ("position", "channel"), False
        rows, cols = shape
        return (f"{rows} rows of {cols} values (x: dimension 2, y: dimension 1)",
                ("dimension 2", "dimension 1"), False)

    def _use(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.mode = mode
        image = mode in ("image", "heat")
        self.image.setVisible(image)
        self.bars.setVisible(not image)
        self.plot.setAspectLocked(mode == "image")
        self.plot.invertY(image)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            self.plot.showAxis(axis, mode != "image")
        self.plot.showGrid(x=False, y=mode == "bars", alpha=0.15)
        if image:
            self.image.setLookupTable(self.lut)

    def _show_image(self, maps: np.ndarray) -> None:
        self._use("image")
        rect = self.main.size()
        aspect = max(0.2, rect.width() / max(1, rect.height()))
        img = mosaic(maps, aspect)
        c, h, w = maps.shape
        cols = (img.shape[1] + 1) // (w + 1)
        grid = (math.ceil(c / cols), cols, h, w)
        self.image.setImage(img, levels=(0, 255), autoLevels=False)
        if grid != self._grid:
            self._grid = grid
            self.plot.getViewBox().setRange(QRectF(0, 0, img.shape[1], img.shape[0]), padding=0.01)

    def _show_heat(self, img: np.ndarray, axes) -> None:
        self._use("heat")
        self.plot.setLabel("bottom", axes[0] if axes else "")
        self.plot.setLabel("left", axes[1] if axes else "")
        self.plot.showAxis("left", bool(axes))
        self.plot.showAxis("bottom", bool(axes))
        self.image.setImage(np.maximum(img, 1), levels=(0, 255), autoLevels=False)
        if self._grid != ("heat", img.shape):
            self._grid = ("heat", img.shape)
            self.plot.getViewBox().setRange(QRectF(0, 0, img.shape[1], img.shape[0]), padding=0)

    def _show_bars(self, values: np.ndarray) -> None:
        self._use("bars")
        self.plot.setLabel("bottom", "feature")
        self.plot.setLabel("left", "value")
        x = np.arange(len(values))
        brushes = [ps.brush(ps.LOSS) if v >= 0 else ps.brush(ps.VAL_LOSS) for v in values]
        self.bars.setOpts(x=x, height=values, width=0.8, brushes=brushes, pen=pg.mkPen(None))
        names = self.class_names if len(self.class_names) == len(values) else None
        axis = self.plot.getAxis("bottom")
        axis.setTicks([list(enumerate(distinct_cuts(names, 6)))] if names and len(values) <= 12 else None)
        lo, hi = float(min(0.0, values.min())), float(max(0.0, values.max()))
        if self._grid != ("bars", len(values)):
            self._grid = ("bars", len(values))
        self.plot.getViewBox().setRange(xRange=(-0.6, len(values) - 0.4), yRange=(lo, hi if hi > lo else lo + 1),
                                        padding=0.05)

    def pixel_at(self, scene_pos) -> tuple[int, int, int] | None:
        """(channel, row, column) of the feature-map pixel under a scene position, or None."""
        if self.mode != "image" or not self._grid or self.current is None:
            return None
        p = self.plot.getViewBox().mapSceneToView(scene_pos)
        rows, cols, h, w = self._grid
        if p.x() < 0 or p.y() < 0:
            return None
        col, row = int(p.x() // (w + 1)), int(p.y() // (h + 1))
        k = row * cols + col
        i, j = int(p.y()) % (h + 1), int(p.x()) % (w + 1)
        if 0 <= col < cols and 0 <= row < rows and k < len(self.current["maps"]) and i < h and j < w:
            return k, i, j
        return None

    def _hover(self, args) -> None:
        hit = self.pixel_at(args[0])
        self.main.setToolTip(f"{self.block} channel {hit[0]}, pixel ({hit[1]}, {hit[2]}): click to see the "
                             "arithmetic that produced it" if hit else "")

    def _clicked(self, event) -> None:
        hit = self.pixel_at(event.scenePos())
        if hit is not None and self.block:
            self.pixel_clicked.emit(self.block, *hit, int(self.current.get("probe_index", 0)))

    # -- predictions --------------------------------------------------------------------------------
    def set_prediction(self, probabilities: np.ndarray | None) -> None:
        self._prediction = probabilities
        self._render_prediction(probabilities)

    def _render_prediction(self, probs) -> None:
        if probs is None or len(probs) == 0:
            self.prob_bars.setOpts(x0=[], y=[], width=[], height=0.7)
            self.prob_labels.set_labels([], QRectF())
            return
        c = ps.colors()
        order = np.argsort(probs)[::-1][:TOP_K]
        names = [self.class_names[i] if i < len(self.class_names) else str(i) for i in order]
        brushes = [pg.mkBrush(c.ok) if i == self.probe_label else ps.brush(ps.LOSS, 110) for i in order]
        self.prob_bars.setOpts(x0=np.zeros(len(order)), y=np.arange(len(order)), width=probs[order],
                               height=0.72, brushes=brushes, pen=pg.mkPen(None))
        self.prob_labels.set_labels([(0.02, k, f"{n}  {probs[i] * 100:.0f}%", c.text)      # cut names still differ
                                     for k, (i, n) in enumerate(zip(order, distinct_cuts(names, 12)))],
                                    QRectF(0, -0.5, 1, TOP_K))
