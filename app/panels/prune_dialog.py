"""The "Prune channels…" dialog: which weights, which blocks, how much, and the before/after table.

The dialog only asks and shows; `app/pruning.py` computes the preview (graph/pruning.py's
`prune_channels`, figures from runtime/pruning.py's `block_rows`) and applies the edit.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHeaderView,
                               QLabel, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout)

from layerloom.graph.quoting import shown
from layerloom.graph.summary import human

COLUMNS = ("Block", "Parameters", "→ after", "MACs", "→ after", "Weights", "→ after", "Val. accuracy", "→ after")
CRITERION = "L1 norm of each channel's weights (the weakest channels go)"


def _kb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e7 else f"{n / 1e3:,.1f} kB"


def _acc(share: float) -> str:
    return f"{share * 100:.1f} %"


def accuracy_note(accuracy) -> str:
    """The sentence under the table about the accuracy columns: which samples, or why there are none."""
    if accuracy is None or isinstance(accuracy, str):
        return accuracy or ""
    before, after, judged, split = accuracy
    which = f"all {split:,} samples" if judged >= split else f"{judged:,} of its {split:,} samples (a seeded " \
                                                            f"random choice, to keep the preview quick)"
    return (f"Validation accuracy {_acc(before)} → {_acc(after)} right after pruning, no fine-tune yet; judged on "
            f"the run's validation split, {which}.")


def _percent(after: int, before: int) -> str:
    """'59 %'; a change too small to show in whole percents keeps one decimal ('99.7 %', never '100 %')."""
    if not before:
        return "–"
    share = after / before * 100
    return f"{share:.1f} %" if after != before and round(share) in (0, 100) else f"{share:.0f} %"


class PruneDialog(QDialog):
    choice_changed = Signal()          # weights, blocks or ratio changed: the preview is out of date

    def __init__(self, graph_name: str, sources: list[tuple[str, object]], blocks: list[str],
                 block: str | None = None, parent=None):
        """`sources`: (label, key) of the weights to prune; `blocks`: the ids that can be pruned;
        `block`: the one to start with (None: the whole graph)."""
        super().__init__(parent)
        self.setObjectName("prune-dialog")
        self.setWindowTitle("Prune channels")
        self.setMinimumWidth(900)
        intro = QLabel(f"Remove whole channels from the Conv and Linear blocks of “{shown(graph_name, 60)}”. "
                       "The blocks that read them (BatchNorm, Add, Concat, Flatten, the next Conv or Linear) are "
                       "sliced to match, and the graph keeps the surviving weights. This is one edit: "
                       "Edit ▸ Undo brings back the graph and its weights exactly.")
        intro.setWordWrap(True)
        self.source = QComboBox()
        for label, key in sources:
            self.source.addItem(label, key)
        self.scope = QComboBox()
        self.scope.addItem(f"Every block that can be pruned ({len(blocks)})", None)
        for bid in blocks:
            self.scope.addItem(f"Only {bid}", bid)
        if block in blocks:
            self.scope.setCurrentIndex(self.scope.findData(block))
        self.ratio = QSpinBox()
        self.ratio.setObjectName("prune-ratio")
        self.ratio.setRange(5, 95)
        self.ratio.setSingleStep(5)
        self.ratio.setValue(50)
        self.ratio.setSuffix(" % of the channels")
        self.ratio.setToolTip("The share of each block's channels to remove: a block of n channels loses the "
                              "nearest whole number, round(share × n), as torch.nn.utils.prune counts (a half "
                              "goes to the even count), and always keeps at least one. The table shows the result.")
        criterion = QLabel(CRITERION)
        form = QFormLayout()
        form.addRow("Weights:", self.source)
        form.addRow("Blocks:", self.scope)
        form.addRow("Remove:", self.ratio)
        form.addRow("Ranked by:", criterion)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("prune-table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(220)
        self.rows: list[dict] = []     # what the table shows, as computed
        self.summary = QLabel()
        self.summary.setObjectName("prune-summary")
        self.summary.setWordWrap(True)
        self.accuracy_note = QLabel()
        self.accuracy_note.setObjectName("prune-accuracy-note")
        self.accuracy_note.setWordWrap(True)
        note = QLabel("Accuracy changes too: after pruning, a short fine-tuning run from the kept weights is "
                      "offered. Unstructured pruning (zeroed weights) saves nothing on disk and is not offered.")
        note.setWordWrap(True)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.prune_button = self.buttons.addButton("Prune", QDialogButtonBox.ButtonRole.AcceptRole)
        self.prune_button.setObjectName("prune-apply")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.accuracy_note)
        layout.addWidget(note)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)          # one preview after a burst of spin-box steps
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.choice_changed)
        for signal in (self.source.currentIndexChanged, self.scope.currentIndexChanged, self.ratio.valueChanged):
            signal.connect(lambda *_: self._timer.start())

    # -- what was chosen ---------------------------------------------------------------------------
    def chosen(self) -> tuple[object, list[str] | None, float]:
        """(weights key, blocks or None for every one, ratio in (0, 1))."""
        block = self.scope.currentData()
        return self.source.currentData(), ([block] if block else None), self.ratio.value() / 100

    # -- showing ------------------------------------------------------------------------------------
    def show_rows(self, rows: list[dict], notes: list[str] = ()) -> None:
        """The "total" row (last in `rows`) goes first, so it stays in sight above a long list of blocks;
        `notes` say where the ratio could not be met."""
        self.rows = rows
        rows = rows[-1:] + rows[:-1]
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [row["block"]]
            for key, fmt in (("params", "{:,}".format), ("macs", human), ("bytes", _kb)):
                before, after = row[key]
                cells += [fmt(before), f"{fmt(after)} ({_percent(after, before)})"]
            accuracy = row.get("accuracy")
            if row["block"] != "total":
                cells += ["", ""]
            elif isinstance(accuracy, tuple):
                cells += [_acc(accuracy[0]), f"{_acc(accuracy[1])} (no fine-tune yet)"]
            else:
                cells += ["–", "–"]          # the note under the table says why
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                align = Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight
                item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                if row["block"] == "total":
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        total = rows[0]
        self.summary.setStyleSheet("")
        self.summary.setText(f"The pruned graph keeps {_percent(*total['params'][::-1])} of the parameters, "
                             f"{_percent(*total['macs'][::-1])} of the MACs and "
                             f"{_percent(*total['bytes'][::-1])} of the weights file."
                             + "".join(f" {shown(note, 300)}." for note in notes))
        self.accuracy_note.setText(accuracy_note(total.get("accuracy")))
        self.prune_button.setEnabled(True)
        self._fit_text()

    def show_busy(self) -> None:
        self.summary.setStyleSheet("")
        self.summary.setText("Working out the pruned graph…")

    def show_problem(self, text: str) -> None:
        self.table.setRowCount(0)
        self.accuracy_note.setText("")
        self.summary.setStyleSheet("color: #c0392b;")
        self.summary.setText(text)
        self.prune_button.setEnabled(False)
        self._fit_text()

    def _fit_text(self) -> None:
        """Grow the dialog when its sentences wrap onto more lines than it has room for: a window does not grow on
        its own for a longer text (the table would squeeze a long problem into one clipped line)."""
        layout = self.layout()
        layout.activate()
        need = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        if need > self.height():
            self.resize(self.width(), need)
