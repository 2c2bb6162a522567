"""What one block of a trained run learnt: its weight and activation histograms and the top-9 validation
samples of one of its channels (numbers from layerloom.runtime.learnt; this widget only shows them)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QComboBox, QGraphicsItem, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from layerloom.runtime.explain import Cancelled, ExplainError, Recorder
from layerloom.runtime.heatmaps import to_display
from layerloom.runtime.learnt import (NotFinite, activation_histogram, block_summary, channel_axis, channel_count,
                                     tile_grid, weight_histograms)

from .. import plot_style as ps
from ..background import Latest

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
        self.message.setWordWrap(True)         # a long reason wraps instead of widening the whole panel
        col.addWidget(self.message)
        body = QHBoxLayout()
        self.weights = pg.PlotWidget(viewBox=ps.MenuOnDemand())
        self.activations = pg.PlotWidget(viewBox=ps.MenuOnDemand())
        self.titles = {self.weights: "Weights", self.activations: "Activations on validation samples"}
        for plot in (self.weights, self.activations):
            plot.setMinimumWidth(150)      # the Explain panel holding this tab fits the bottom of a 1024-px window
            body.addWidget(plot, 1)
        self.restyle()
        right = QVBoxLayout()
        self.top_title = QLabel("Top-9 validation samples")
        right.addWidget(self.top_title)
        self.top = QLabel()
        self.top.setTextFormat(Qt.TextFormat.PlainText)
        self.top.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        right.addWidget(self.top, 1)
        body.addLayout(right)
        col.addLayout(body, 1)
        self.top9: list[dict] = []
        self.histogram_for: str | None = None   # the block whose activation histogram is still to come
        self.weights_for: str | None = None     # the block whose weight histogram is still to come
        self.asked = 0                       # the newest request: an older job's answer is dropped
        self.jobs = Latest("layerloom-block-learnt", expected=(ExplainError, Cancelled), parent=self)
        self.jobs.done.connect(self._arrived)

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
        """Show `subject`'s blocks; None: no run (one is loading), and nothing of the one before stays."""
        self.subject = subject
        self.asked += 1                          # an answer about the run before is no longer wanted
        if subject is None:
            self.weights.clear()
            self.activations.clear()
            self.top.clear()
            self.message.setText("")
        self.block.blockSignals(True)
        self.block.clear()
        self.block.addItems(blocks)
        self.block.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        """The chosen block's weights, activations and top-9, from a background job (the weights of a large
        Linear take seconds to count: AlexNet's fc1 stood the window still for 3 s)."""
        block = self.block.currentText()
        if self.subject is None or not block:
            return
        self.message.setText("")
        self.weights.clear()
        self._title(self.weights, f"Weights of {block}")
        self.activations.clear()
        self._title(self.activations, f"Outputs of {block} on validation samples")
        self.histogram_for = self.weights_for = block
        self._submit(block, self.channel.value())

    def _show_weights(self, block: str, weights: tuple) -> None:
        """('bars', name, counts, edges), ('not numbers', why) or ('none',): what _weights found."""
        self.weights_for = None
        if weights[0] == "bars":
            _, name, counts, edges = weights
            self.weights.addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=ps.brush(WEIGHTS),
                                                 pen=ps.pen(WEIGHTS, 1)))
            self._title(self.weights, f"Weights of {block}" + ("" if name == "weight" else f" ({name})"))
        elif weights[0] == "not numbers":
            self._title(self.weights, f"Weights of {block}: not numbers")
        else:
            self._title(self.weights, f"{block} has no weights")

    def _show_top(self) -> None:
        block = self.block.currentText()
        if self.subject is not None and block:
            self._submit(block, self.channel.value())

    def _submit(self, block: str, channel: int) -> None:
        """Look through the validation set in a Job; a newer request cancels this one and wins."""
        self.asked += 1
        self.jobs.cancel_running()
        self.message.setText(f"Working… looking at {block} on the validation samples")
        histogram = self.histogram_for == block          # still owed when a channel is picked before it came
        weights = self.weights_for == block
        self.jobs.submit(self.asked, lambda job, subject=self.subject: _look(subject, block, channel, histogram,
                                                                               job.cancel, weights))

    def _arrived(self, job) -> None:
        if job.key != self.asked or job.cancelled:
            return                                          # a newer block, channel or run was asked for since
        self.message.setText(job.error)
        if job.error:
            return
        got = job.result
        if got.get("weights") is not None:
            self._show_weights(got["block"], got["weights"])
            if got["weights"][0] == "not numbers":
                self.message.setText(got["weights"][1])
        if got.get("error"):                  # the weights show; the activations say why they do not
            self.message.setText(got["error"])
            return
        if got.get("histogram") is not None:
            counts, edges = got["histogram"]
            self.histogram_for = None
            self.activations.addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts,
                                                     brush=ps.brush(ACTIVATIONS), pen=ps.pen(ACTIVATIONS, 1)))
            below, above, not_finite = got.get("outside", (0, 0, 0))
            left_out = ([f"{below + above:,} beyond the bars' range"] if below or above else []) + \
                       ([f"{not_finite:,} NaN or infinite"] if not_finite else [])
            if left_out:              # the edges span the first values seen; a few later ones fell outside
                self._title(self.activations, f"Outputs of {got['block']} on validation samples "
                                              f"({', '.join(left_out)} left out)")
        if got.get("channels") is None:
            self.message.setText(f"{got['block']} gives no tensor of numbers to rank samples by: pick another block")
            return
        self.channel.blockSignals(True)
        self.channel.setRange(0, got["channels"] - 1)
        self.channel.setValue(got["channel"])
        self.channel.blockSignals(False)
        self.top9 = got["top9"]
        raws = got["raws"]
        if raws and raws[0].ndim == 3:
            tiles = np.stack([to_display(r) for r in raws])
            self.top.setPixmap(QPixmap.fromImage(self._qimage(tile_grid(tiles, scale=3, columns=3))))
        else:                 # numbers, or a text's words ("<unk>" included: plain text, never markup)
            words = got.get("words") or [None] * len(self.top9)
            self.top.setText("\n".join(f"sample {t['index']}: {t['activation']:.3f}" + (f"  {_text(w)}" if w else "")
                                       for t, w in zip(self.top9, words)))
        self.top_title.setText(f"Top-9 validation samples for channel {got['channel']} of {got['block']}")


def _batches(subject, cancel, size: int = 500):
    """(indices, model input) over the validation split, stopping with Cancelled once `cancel` is set."""
    for idx, _, x, _ in subject.batches(size):
        if cancel.is_set():
            raise Cancelled("cancelled")
        yield idx, x


def _weights(model, block: str) -> tuple:
    """The block's first weight's histogram (an LSTM's first: weight_ih_l0) for _show_weights."""
    try:
        hist = weight_histograms(model, block)
    except NotFinite as exc:
        return "not numbers", str(exc)
    except ExplainError:
        return ("none",)
    name = "weight" if "weight" in hist else next(iter(hist))
    return ("bars", name, *hist[name])


def _look(subject, block: str, channel: int, histogram: bool, cancel, weights: bool = False) -> dict:
    """In a Job: the block's weight histogram (when asked), then, in one pass over the validation set, its
    activation histogram (when asked), its channel count and the top-9 samples of `channel` (the last
    channel when there are fewer) with their pictures; `error`: why there are no activations to show."""
    got = {"block": block, "histogram": None, "channels": None,
           "weights": _weights(subject.model, block) if weights else None}
    try:
        return _activations(subject, block, channel, histogram, cancel, got)
    except Cancelled:
        raise
    except ExplainError as exc:
        got["error"] = str(exc)
        return got


def _activations(subject, block: str, channel: int, histogram: bool, cancel, got: dict) -> dict:
    _, x0, _ = subject.sample(0)
    rec = Recorder(subject.model, [block])
    rec.run(x0)
    a = rec.kept.get(block)
    if a is None:
        if histogram:           # says why there is nothing to show
            activation_histogram(subject.model, _batches(subject, cancel), block)
        return got
    got["channels"] = channel_count(a, channel_axis(subject.model, block))
    got["channel"] = min(channel, got["channels"] - 1)
    hist, got["top9"] = block_summary(subject.model, _batches(subject, cancel), block, got["channel"],
                                      bins=50 if histogram else None)
    if hist is not None:
        got["histogram"] = hist.result()
        got["outside"] = (hist.below, hist.above, hist.not_finite)
    samples = [subject.sample(t["index"]) for t in got["top9"]]
    got["raws"] = [raw[0].numpy() for raw, _, _ in samples]
    got["words"] = [subject.words(x) for _, x, _ in samples]      # None for samples that are not token ids
    return got


def _text(words: list[str], room: int = 40) -> str:
    """A token sample's words without its padding, cut to `room` characters."""
    text = " ".join(w for w in words if w != "<pad>")
    return text if len(text) <= room else text[:room - 1] + "…"
