"""Step mode: exactly one training step on one batch, with the numbers of gradient descent.

Each press of Step runs one optimizer step of the open graph (starting from its newest trained run's
weights, or freshly initialised ones) on one fixed batch of its data set, and shows the loss before
and after, the gradient arriving at every block from the Output back to the Input, and, for a chosen
weight, w ← w − η·∂L/∂w with the real numbers (plus momentum or Adam's moments). "Loss surface"
draws the loss around the weights along two filter-normalised directions, with the step on it."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from .. import plot_style as ps

BATCH = 64
SURFACE_STEPS = 15      # grid points along each direction
RUN_CHANGED = ("A training run has changed the weights since the last step: Step starts over from the newest run's "
               "weights.")


def prepare(doc, runs, seed: int = 0):
    """(StepView, block ids in order from the Output back) for the open graph and one batch of its data."""
    import torch

    from layerloom.graph import analyze, compile_graph
    from layerloom.runtime.config import TrainConfig
    from layerloom.runtime.data import load_dataset
    from layerloom.runtime.data.transforms import build_transforms
    from layerloom.runtime.step_mode import StepView
    result = analyze(doc)
    model = compile_graph(doc, result, seed=seed)
    origin = "freshly initialised weights"
    if runs:
        from layerloom.runtime.checkpoints import load_checkpoint
        try:
            model.load_state_dict(load_checkpoint(runs[0].path).weights)
            origin = f"the weights of run {runs[0].name}"
        except Exception:  # a run of an older version of the graph: start fresh, and say so
            origin = "freshly initialised weights (the newest run does not fit this graph any more)"
    cfg = TrainConfig.from_sources(doc.training)
    shape = next(b.full_params()["shape"] for b in doc.blocks.values() if b.kind == "Input")
    data = load_dataset(cfg.dataset, input_shape=tuple(shape), seed=cfg.seed, **cfg.dataset_options)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train), generator=g)[:BATCH]
    x, y = data.train.batch(idx)
    transform = build_transforms(data.info, augment=None, normalize=cfg.normalize, train=False)
    if transform is not None:
        x = transform(x)
    order = [b for b in reversed(result.order) if doc.blocks[b].kind not in ("Input", "Output")]
    return StepView(model, cfg, x, y), order, origin


def _network(doc):
    """The network of a graph (blocks, parameters, wires), without places or settings."""
    from layerloom.graph.fileformat import graph_to_dict

    from ..exporting import network_of
    return network_of(graph_to_dict(doc))


def _made_of(doc) -> tuple:
    """What a step depends on: the network and the training settings."""
    import json
    return _network(doc), json.dumps(doc.training, sort_keys=True, default=str)


def weights_by_block(model, order) -> dict[str, list[tuple[str, int]]]:
    """Every parameter of `model` (its named_parameters(), nested ones too, as `out_proj.weight`) as
    {block: [(name within the block, element count)]}, the blocks in `order` first."""
    found: dict[str, list[tuple[str, int]]] = {}
    for name, p in model.named_parameters():
        block, _, param = name.partition(".")
        found.setdefault(block, []).append((param, p.numel()))
    return {b: found[b] for b in [*order, *found] if b in found}


def watch_in(model, wish) -> list:
    """The (block, parameter, element index) to follow in `model` for `wish` = (block, parameter, flat
    element number), the number clamped to the parameter's size; [] when it has no such parameter."""
    if wish is None:
        return []
    block, param, flat = wish
    p = dict(model.named_parameters()).get(f"{block}.{param}")
    if p is None:
        return []
    index = np.unravel_index(min(flat, p.numel() - 1), tuple(p.shape))
    return [(block, param, tuple(int(i) for i in index))]


class StepPanel(QWidget):
    def __init__(self, learning, parent=None):
        super().__init__(parent)
        self.learning = learning
        self.view = None
        self._built_for = None      # what the graph computed and how it trained when `view` was made
        self._stepping = None       # the document open when the last Step was pressed
        self._runs_seen = 0         # training runs started or ended: a step taken before one is of old weights
        self.order: list[str] = []
        self.last = None
        self._weights: dict[str, list[tuple[str, int]]] = {}   # what the Follow lists offer
        self._listed_for = None     # the network whose model the Follow lists were filled from
        self._kept = None           # the weight followed before the lists emptied: chosen again if still there
        self.intro = QLabel("Run exactly one training step and see every number it changes.")
        self.intro.setWordWrap(True)
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip("One optimizer step on one batch of the training data")
        self.reset_button = QPushButton("Start over")
        self.surface_button = QPushButton("Loss surface")
        self.surface_button.setToolTip("The loss around the current weights along two random directions (Li et "
                                       "al., 2018), with the last step drawn on it")
        self.loss = QLabel("")
        self.loss.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["block", "‖∂L/∂output‖", "‖∂L/∂w‖"])
        self.table.setToolTip("Blocks from the Output back to the Input: the gradient arriving at each block's "
                              "output, and the gradient of its own weights")
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.weight_block = QComboBox()
        self.weight_block.setToolTip("The blocks with weights in the model Step mode trains")
        self.weight_param = QComboBox()
        self.weight_index = QSpinBox()
        self.weight_index.setRange(0, 10 ** 9)
        self.weight_index.setToolTip("Which element of the parameter, counted row by row")
        self.rule = QLabel("")
        self.rule.setWordWrap(True)
        self.rule.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = pg.PlotWidget(viewBox=ps.MenuOnDemand())
        ps.style_widget(self.plot)
        ps.style_plot(self.plot.getPlotItem(), left="β", bottom="α", title="loss around the weights")
        self.plot.setMinimumHeight(200)
        self.plot.hide()
        self.status.hide()
        buttons = QHBoxLayout()
        for b in (self.step_button, self.reset_button, self.surface_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        watch = QHBoxLayout()
        watch.addWidget(QLabel("Follow weight"))
        watch.addWidget(self.weight_block, 1)
        watch.addWidget(self.weight_param)
        watch.addWidget(self.weight_index)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.loss)
        layout.addWidget(self.table, 1)
        layout.addLayout(watch)
        layout.addWidget(self.rule)
        layout.addWidget(self.plot, 1)
        self.step_button.clicked.connect(self.step)
        self.reset_button.clicked.connect(self.reset)
        self.surface_button.clicked.connect(self.surface)
        self.weight_block.currentIndexChanged.connect(self._fill_params)
        self.surface_button.setEnabled(False)
        self._enable_lists()
        learning.win.session.analysed.connect(lambda _result: self.graph_changed())

    def reset(self) -> None:
        self.learning.win.scene.show_gradients(None)
        self.view = None
        self._built_for = None
        self.last = None
        self.loss.setText("")
        self.rule.setText("")
        self.table.setRowCount(0)
        self.plot.hide()
        self.surface_button.setEnabled(False)
        self._lists_follow(self.learning.win.document)

    # -- the Follow weight lists ------------------------------------------------------------------
    def _followed(self):
        """The weight chosen in the Follow lists, as (block, parameter, flat element number), or None."""
        block, param = self.weight_block.currentData(), self.weight_param.currentText()
        return (block, param, self.weight_index.value()) if block and param else None

    def _enable_lists(self) -> None:
        """The lists can be chosen from only while they hold the weights of a model (a step lists them)."""
        for w in (self.weight_block, self.weight_param, self.weight_index):
            w.setEnabled(bool(self._weights))
        self.weight_block.setPlaceholderText("choose…" if self._weights else "press Step")

    def _lists_follow(self, doc) -> None:
        """The graph's network is no longer the one the Follow lists were filled for: they empty (the next
        step fills them from its model), keeping the chosen weight to choose again if it is still there;
        one whose block left the graph (removed or renamed) is dropped, and the panel says so."""
        if self._listed_for is None or _network(doc) == self._listed_for:
            return
        self._kept = self._followed() or self._kept
        self._list_weights({})
        self._listed_for = None
        if self._kept is not None and self._kept[0] not in doc.blocks:
            self._drop_kept(f"{self._kept[0]} is no longer in the graph")

    def _drop_kept(self, why: str) -> None:
        block, param, _ = self._kept
        self._kept = None
        self.rule.setText(f"No longer following {block}.{param}: {why}. Choose another weight to follow.")

    def _list_weights(self, weights: dict, choose=None) -> None:
        """Fill the Follow lists with `weights` (see weights_by_block) and select `choose`'s weight."""
        self._weights = weights
        self.weight_block.blockSignals(True)
        self.weight_block.clear()
        for block in weights:
            self.weight_block.addItem(block, block)
        if choose is not None:
            self.weight_block.setCurrentIndex(self.weight_block.findData(choose[0]))
        self.weight_block.blockSignals(False)
        self._fill_params()
        if choose is not None:
            self.weight_param.setCurrentIndex(self.weight_param.findText(choose[1]))
        self._enable_lists()

    def _fill_params(self, _i: int = 0) -> None:
        self.weight_param.clear()
        for name, count in self._weights.get(self.weight_block.currentData(), ()):
            self.weight_param.addItem(name, count)

    def _busy(self, on: bool, text: str = "") -> None:
        for b in (self.step_button, self.reset_button, self.surface_button):
            b.setEnabled(not on)
        self.status.setText(text if on else "")
        self.status.setVisible(on)

    def graph_changed(self) -> None:
        """The graph was edited: steps taken on what it was no longer stand for it (its gradients leave
        the canvas), and the next Step starts over with the graph as it is."""
        doc = self.learning.win.document
        if self.view is None:                  # (with a view, the lists are of the network it was built for)
            self._lists_follow(doc)
        elif _made_of(doc) != self._built_for:
            self.reset()
            self.loss.setText("The graph has changed since the last step: Step starts over with it as it is now.")

    def weights_changed(self) -> None:
        """A training run started or ended: the weights steps were taken on are no longer the graph's
        newest, so their gradients leave the wires and the next Step starts from the run's weights."""
        self._runs_seen += 1
        if self.view is not None:
            self.reset()
            self.loss.setText(RUN_CHANGED)

    def step(self) -> None:
        win = self.learning.win
        doc = win.document.copy()
        from ..exporting import runs_of
        if self.view is not None and _made_of(doc) != self._built_for:
            self.reset()                        # edited while a step was being taken
        runs = runs_of(doc, win.training.runs_base)
        wish = self._followed() or self._kept
        state = {"view": self.view}
        made_of, runs_seen = _made_of(doc), self._runs_seen

        def work(_cancelled):
            origin, order = None, self.order
            if state["view"] is None:
                state["view"], order, origin = prepare(doc, runs)
            return state["view"], origin, state["view"].step(watch_in(state["view"].model, wish)), order

        self._busy(True, "Stepping…")
        self._stepping = win.document
        self.learning.run_job(work, lambda result: self._stepped(result, made_of, runs_seen), lambda m: (
            self._busy(False), self.loss.setText(f"This graph cannot take a training step yet: {m}")))

    def _stepped(self, result, made_of, runs_seen: int) -> None:
        view, origin, report, order = result
        doc = self.learning.win.document
        if runs_seen != self._runs_seen:         # a run started or ended while it stepped: a step of old weights
            self._busy(False)
            self.reset()
            self.loss.setText(RUN_CHANGED)
            return
        if _made_of(doc) != made_of or (self.view is not None and view is not self.view):
            self._busy(False)          # another graph opened, or this one edited, while it stepped: its step
            self.reset()               # is of a network that is no longer on the canvas
            self.loss.setText("The step was of the graph as it was before "
                              + ("another graph opened" if doc is not self._stepping else "your edit")
                              + ": press Step to take one on the graph as it is now.")
            return
        first = self.view is None
        self.view, self.last, self._built_for, self.order = view, report, made_of, order
        self._busy(False)
        start = f"Starting from {origin}. " if origin else ""
        self.loss.setText(f"{start}Step {view.steps_taken}: loss {report.loss_before:.5f} → {report.loss_after:.5f} "
                          f"({report.loss_after - report.loss_before:+.5f}) on one batch of {len(view.y)}.")
        self.table.setRowCount(len(self.order))
        for row, block in enumerate(self.order):
            g = report.output_grad_norms.get(block)
            w = report.param_grad_norms.get(block)
            for col, text in enumerate((block, f"{g:.3e}" if g is not None else "–", f"{w:.3e}" if w else "–")):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        dropped = None
        if first:
            weights = weights_by_block(view.model, self.order)
            wish = self._followed() or self._kept
            there = wish is not None and any(p == wish[1] for p, _ in weights.get(wish[0], ()))
            if wish is not None and not there:
                dropped = wish
            self._list_weights(weights, wish if there else None)
            self._listed_for, self._kept = made_of[0], None
        self.rule.setText("\n".join(f"{w.block}.{w.param}{list(w.index)}: {w.rule}   (the optimizer wrote "
                                    f"{w.after:.6g})" for w in report.weights) or
                          "Choose a weight to follow, then press Step again to see its update.")
        if dropped is not None:
            self._kept = dropped
            self._drop_kept("the model has no such weight any more")
        self.surface_button.setEnabled(True)
        self.learning.win.scene.show_gradients(report.output_grad_norms)
        self.learning.win.session.message.emit(f"One training step: loss {report.loss_before:.4f} → "
                                               f"{report.loss_after:.4f}")

    def surface(self) -> None:
        if self.view is None or self.last is None:
            return
        from layerloom.runtime.step_mode import loss_surface
        view, delta = self.view, self.last.delta
        self._busy(True, "Computing the loss surface…")
        self.learning.run_job(lambda cancelled: loss_surface(view.model, view.x, view.y, view.config.loss,
                                                             steps=SURFACE_STEPS, span=1.0, step_delta=delta,
                                                             cancel=cancelled),
                              lambda s: self._surface_ready(s, view), lambda m: (self._busy(False), self.loss.setText(m)))

    def _surface_ready(self, s: dict, view=None) -> None:
        self._busy(False)
        if not s or (view is not None and view is not self.view):    # cancelled, or of a step since undone
            return
        plot = self.plot.getPlotItem()
        plot.clear()
        image = pg.ImageItem(np.log10(np.maximum(s["loss"], 1e-8)))
        image.setLookupTable(ps.lut("viridis", with_background=False))
        span = float(s["alphas"][-1] - s["alphas"][0])
        n = len(s["alphas"])
        image.setRect(float(s["alphas"][0]) - span / (2 * (n - 1)), float(s["betas"][0]) - span / (2 * (n - 1)),
                      span * n / (n - 1), span * n / (n - 1))
        plot.addItem(image)
        a, b = s.get("step", (0.0, 0.0))
        plot.plot([-a, 0.0], [-b, 0.0], pen=ps.pen("#ffffff", 2), symbol="o", symbolSize=7)
        plot.setTitle("log₁₀ loss around the weights")
        plot.getViewBox().setRange(xRange=(float(s["alphas"][0]) - span / (2 * (n - 1)),
                                           float(s["alphas"][-1]) + span / (2 * (n - 1))),
                                   yRange=(float(s["betas"][0]) - span / (2 * (n - 1)),
                                           float(s["betas"][-1]) + span / (2 * (n - 1))), padding=0)
        self.plot.setToolTip("The loss on a grid of weights θ + α·d₁ + β·d₂ along two filter-normalised random "
                             "directions; the white line is the last step, ending at the centre")
        self.plot.show()
