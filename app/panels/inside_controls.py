"""The Inside panel's controls: which run, which validation sample, which block and which value.

The newest trained run of the open graph is used; its model traces the chosen validation sample in a
background job, then the value is taken apart (runtime/inside.py) and drawn (InsideView)."""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from layerloom.runtime import inside

SUPPORTED = {"Conv2d": "pixel", "MaxPool2d": "pixel", "AvgPool2d": "pixel", "Linear": "feature",
             "ReLU": "value", "Tanh": "value", "Sigmoid": "value", "LeakyReLU": "value", "GELU": "value",
             "ReLU6": "value", "SiLU": "value", "Hardswish": "value", "Hardsigmoid": "value",
             "LSTM": "unit", "GRU": "unit", "Embedding": "position"}


def _probe(run_path, index: int):
    """(model, one validation sample with its batch dimension, its words when it is token ids) of a run,
    read as Explain reads it (every kind of data set: in-memory splits and image folders alike)."""
    from layerloom.runtime.explain_subject import load_subject
    subject = load_subject(run_path)
    index = max(0, min(index, len(subject.val) - 1))
    _, x, _ = subject.sample(index)
    return subject.model, x, subject.words(x)


def take_apart(model, x, block: str, kind: str, a: int, b: int, c: int, words=None) -> dict:
    result = _take_apart(model, x, block, kind, a, b, c)
    if x.dim() == 4 and x.is_floating_point():
        result["input_image"] = x[0].float().numpy()      # the sample, for drawing the receptive field
    if result["kind"] == "Embedding" and words and 0 <= result["position"] < len(words):
        result["word"] = words[result["position"]]       # the token id's word in the run's vocabulary
    return result


def _take_apart(model, x, block: str, kind: str, a: int, b: int, c: int) -> dict:
    t = inside.trace(model, x)
    out = t.output(block)[0]
    clamp = lambda v, n: max(0, min(int(v), int(n) - 1))  # noqa: E731
    if kind in ("Conv2d",):
        return inside.conv_pixel(t, block, clamp(a, out.shape[0]), clamp(b, out.shape[1]), clamp(c, out.shape[2]))
    if kind in ("MaxPool2d", "AvgPool2d"):
        return inside.pool_window(t, block, clamp(a, out.shape[0]), clamp(b, out.shape[1]), clamp(c, out.shape[2]))
    if kind == "Linear":
        position = tuple(clamp(b, s) for s in out.shape[:-1])[:out.dim() - 1]
        return inside.linear_terms(t, block, clamp(a, out.shape[-1]), position)
    if kind in ("LSTM", "GRU"):
        return inside.recurrent_gates(t, block, a)
    if kind == "Embedding":
        return inside.embedding_row(t, block, a)
    index = tuple(clamp(v, s) for v, s in zip((a, b, c), out.shape))
    return inside.activation_curve(t, block, index)


class InsideControls(QWidget):
    def __init__(self, view, learning, parent=None):
        super().__init__(parent)
        self.view = view
        self.learning = learning
        self.run_label = QLabel("No trained run of this graph yet.")
        self.run_label.setWordWrap(True)
        self.block = QComboBox()
        self.sample = QSpinBox()
        self.sample.setRange(0, 99999)
        self.sample.setToolTip("Which validation sample goes through the network")
        self.first, self.second, self.third = QSpinBox(), QSpinBox(), QSpinBox()
        for s in (self.first, self.second, self.third):
            s.setRange(0, 4095)
        self.labels = [QLabel("channel"), QLabel("row"), QLabel("column")]
        self.show_button = QPushButton("Show the arithmetic")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Block", self.block)
        form.addRow("Validation sample", self.sample)
        coords = QHBoxLayout()
        for label, spin in zip(self.labels, (self.first, self.second, self.third)):
            coords.addWidget(label)
            coords.addWidget(spin)
        form.addRow("Position", coords)
        layout = QVBoxLayout(self)
        layout.addWidget(self.run_label)
        layout.addLayout(form)
        layout.addWidget(self.show_button)
        layout.addWidget(self.status)
        layout.addWidget(view, 1)
        self.block.currentIndexChanged.connect(self._kind_changed)
        self.show_button.clicked.connect(self.show_value)
        self._cache: dict = {}
        self.runs: list = []
        self._asked = 0           # counts the values asked for; a graph opened since an answer was asked drops it
        self._working = False     # a value is being worked out

    def refresh(self, doc, runs) -> None:
        """The blocks of the open graph that can be taken apart, and the run that will be used."""
        self.runs = runs
        current = self.block.currentData()
        self.block.blockSignals(True)
        self.block.clear()
        for bid, b in doc.blocks.items():
            if b.kind in SUPPORTED:
                self.block.addItem(f"{bid} ({b.kind})", (bid, b.kind))
        self.block.blockSignals(False)
        if current is not None:
            self.follow(current[0])
        self._kind_changed()
        self.run_label.setText(f"Run: {runs[0].name} (the newest trained run of this graph)" if runs else
                               "No trained run of this graph yet: train it, then look inside.")
        self.show_button.setEnabled(bool(runs) and self.block.count() > 0)

    def follow(self, block_id: str) -> None:
        for i in range(self.block.count()):
            if self.block.itemData(i)[0] == block_id:
                self.block.setCurrentIndex(i)
                return

    def _kind_changed(self, _index: int = 0) -> None:
        data = self.block.currentData()
        what = SUPPORTED.get(data[1], "value") if data else "value"
        names = {"pixel": ("channel", "row", "column"), "feature": ("feature", "step", ""),
                 "unit": ("unit", "", ""), "position": ("position", "", ""), "value": ("index 1", "index 2", "index 3")}
        for label, spin, name in zip(self.labels, (self.first, self.second, self.third), names[what]):
            label.setText(name)
            label.setVisible(bool(name))
            spin.setVisible(bool(name))

    def set_position(self, block_id: str, *coords: int) -> None:
        """Used when a value is clicked elsewhere (a feature map's pixel)."""
        self.follow(block_id)
        for spin, v in zip((self.first, self.second, self.third), coords):
            spin.setValue(int(v))

    def graph_replaced(self, doc, runs) -> None:
        """Another graph opened: the arithmetic shown, and any still being worked out, is of the graph open
        before and its run, so it leaves the panel; the blocks and the run become the new graph's."""
        self._asked += 1
        self.view.clear()
        self.refresh(doc, runs)
        self.status.setText("The value being worked out was of the graph open before, so it is not shown: press "
                            "Show the arithmetic to take apart one of this graph's run." if self._working else "")
        self._working = False

    def show_value(self) -> None:
        data = self.block.currentData()
        if not data or not self.runs:
            return
        block, kind = data
        run = self.runs[0].path
        index = self.sample.value()
        a, b, c = self.first.value(), self.second.value(), self.third.value()
        key = (str(run), index)

        def work(_cancelled):
            probe = self._cache.get(key)
            if probe is None:
                probe = _probe(run, index)
                self._cache.clear()
                self._cache[key] = probe
            model, x, words = probe
            return take_apart(model, x, block, kind, a, b, c, words)

        self._asked += 1
        asked = self._asked
        self._working = True
        self.status.setText("Working…")
        self.show_button.setEnabled(False)
        whose = f"Worked out with run {self.runs[0].name}, on validation sample {index}."
        self.learning.run_job(work, lambda result: asked == self._asked and self._shown(result, whose),
                              lambda message: asked == self._asked and self._failed(message))

    def _shown(self, result: dict, whose: str = "") -> None:
        self._working = False
        self.show_button.setEnabled(True)
        self.status.setText(whose)          # the run it came from stays named when a newer run is chosen
        self.view.show_result(result)

    def _failed(self, message: str) -> None:
        self._working = False
        self.show_button.setEnabled(True)
        self.status.setText(f"Cannot take this value apart: {message}")
