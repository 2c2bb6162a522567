"""What an Embedding learned: type a word to see its nearest neighbours; a labelled 2-D PCA map."""
from __future__ import annotations

import html
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from layerloom.runtime.checkpoints import CheckpointError
from layerloom.runtime.embeddings import EmbeddingError, EmbeddingTable

from .. import plot_style as ps
from ..background import Latest

MAP_WORDS = 150


class EmbeddingView(QWidget):
    """Shows one trained Embedding block of a run folder."""
    loaded = Signal(bool)          # a run asked for with load_run: shown (True), or why not in `message`

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table: EmbeddingTable | None = None
        self._asked = None
        self.loader = Latest("layerloom-embeddings", expected=(EmbeddingError, CheckpointError), parent=self)
        self.loader.done.connect(self._read_done)
        layout = QVBoxLayout(self)
        self.title = QLabel("Train a graph with an Embedding (e.g. the word2vec preset) to explore what it learned.")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        row = QHBoxLayout()
        self.word = QLineEdit()
        self.word.setPlaceholderText("Type a word and press Enter")
        self.word.returnPressed.connect(self.lookup)
        go = QPushButton("Nearest words")
        go.clicked.connect(self.lookup)
        row.addWidget(self.word, 1)
        row.addWidget(go)
        layout.addLayout(row)
        self.message = QLabel("")
        self.message.setStyleSheet("color: #b91c1c;")
        self.message.setWordWrap(True)         # a long reason wraps instead of widening the dock
        layout.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.neighbours = QTableWidget(0, 2)
        self.neighbours.setHorizontalHeaderLabels(["Word", "Cosine similarity"])
        self.neighbours.horizontalHeader().setStretchLastSection(True)
        self.neighbours.verticalHeader().setVisible(False)
        self.neighbours.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.neighbours.cellDoubleClicked.connect(lambda r, _c: self._look_again(r))
        split.addWidget(self.neighbours)
        self.plot = pg.PlotWidget(viewBox=ps.MenuOnDemand())
        self._title = "2-D PCA map of the most frequent words"
        self.scatter = pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(59, 130, 246, 200), hoverable=True,
                                          tip=lambda x, y, data: str(data))
        self.plot.addItem(self.scatter)
        self.labels: list[pg.TextItem] = []
        split.addWidget(self.plot)
        split.setSizes([260, 600])
        layout.addWidget(split, 1)
        self.restyle()

    def restyle(self) -> None:
        """The map in the editor's theme (light or dark), like the training curves."""
        ps.style_widget(self.plot)
        ps.style_plot(self.plot.getPlotItem(), title=self._title)
        for label in self.labels:
            label.setColor(ps.colors().muted)

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle()
        super().changeEvent(event)

    def load_run(self, run_dir, block: str | None = None) -> None:
        """Show a run's Embedding: its weights are read and mapped in a background Job (a large vocabulary
        takes a while); the view says it is loading meanwhile, and `loaded(bool)` tells when it is shown or
        why not (`message`). A newer run asked for before it ends wins."""
        self.table = None
        self.title.setText(f"Loading the Embedding of {html.escape(str(run_dir))}…")
        self.message.setText("")
        self._clear_map()
        self.neighbours.setRowCount(0)
        self._asked = asked = (run_dir, object())
        self.loader.cancel_running()
        self.loader.submit(asked, lambda _job: _read(run_dir, block))

    def wait_loaded(self, timeout_ms: int = 60_000) -> bool:
        """Wait (handling events) until the run asked for last has loaded; True when its Embedding is shown."""
        return self.loader.wait(timeout_ms) and self.table is not None

    def _read_done(self, job) -> None:
        if job.key is not self._asked or job.cancelled:
            return                                   # another run was asked for since
        run_dir = job.key[0]
        if job.error:
            self.title.setText(f"No Embedding to explore in {html.escape(str(run_dir))}")
            self.message.setText(job.error)
            self.loaded.emit(False)
            return
        self.table, mapped = job.result
        self.title.setText(f"<b>{html.escape(self.table.block)}</b>: {self.table.vectors.shape[0]:,} vectors of "
                           f"{self.table.vectors.shape[1]} numbers, from {html.escape(str(run_dir))}")
        self._draw_map(mapped)
        self.loaded.emit(True)

    def _clear_map(self) -> None:
        for item in self.labels:
            self.plot.removeItem(item)
        self.labels = []
        self.scatter.clear()

    def _draw_map(self, mapped):
        self._clear_map()
        if isinstance(mapped, str):
            self.message.setText(mapped)
            return
        words, xy = mapped
        self.scatter.setData(x=xy[:, 0], y=xy[:, 1], data=words)
        self._title = f"PCA of the {len(words)} most frequent words (hover a dot for its word)"
        ps.style_plot(self.plot.getPlotItem(), title=self._title)
        for w, (x, y) in list(zip(words, xy))[:60]:       # label the most frequent; hover tells the rest
            label = pg.TextItem(w, color=ps.colors().muted, anchor=(0, 1))
            label.setPos(float(x), float(y))
            self.plot.addItem(label)
            self.labels.append(label)

    def lookup(self):
        if self.table is None:
            self.message.setText("No trained Embedding is loaded yet.")
            return
        word = self.word.text().strip()
        if not word:
            return
        try:
            near = self.table.nearest(word, 15)
        except EmbeddingError as exc:
            self.message.setText(str(exc))
            return
        self.message.setText("")
        self.neighbours.setRowCount(len(near))
        for r, (w, s) in enumerate(near):
            self.neighbours.setItem(r, 0, QTableWidgetItem(w))
            item = QTableWidgetItem(f"{s:.3f}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.neighbours.setItem(r, 1, item)

    def _look_again(self, row: int):
        self.word.setText(self.neighbours.item(row, 0).text())
        self.lookup()


def _read(run_dir, block):
    """In a Job: the run's Embedding table and its 2-D map (or why there is no map)."""
    if not Path(run_dir).exists():           # deleted or moved since it was listed: not "holds no checkpoint"
        raise EmbeddingError(f"{run_dir} does not exist any more (moved or deleted?): train the graph again, or "
                             "pick another run")
    table = EmbeddingTable.from_run(run_dir, block)
    try:
        return table, table.pca(MAP_WORDS)
    except EmbeddingError as exc:
        return table, str(exc)
