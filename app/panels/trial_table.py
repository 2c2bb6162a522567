"""The Experiment panel's trials: a sortable, filterable table beside parallel coordinates.

`TrialTable.show(rows, spec)` fills both from results.json rows; the table sorts by any column and
filters by text (`filter_text`) and by the parallel-coordinates brush; `selected_numbers()` gives the
trials picked in the table.
"""
from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QSplitter, QTableView, QVBoxLayout, QWidget

from layerloom.runtime.sweeps.results import table

from .parallel_coords import ParallelCoordinates

TABLE_EMPTY = ("No trials yet. Add parameters above (PATH=SPEC, one a line), or right-click one in the Inspector "
               "▸ Sweep this parameter; then press ▶ Start.")
PLOT_EMPTY = "Each trial draws a line here once the sweep runs."
STATE_ORDER = {"complete": 0, "running": 1, "waiting": 2, "pruned": 3, "failed": 4}


class _TrialFilter(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.numbers = None
        self.text = ""

    def set_numbers(self, numbers) -> None:
        self.beginFilterChange()
        self.numbers = numbers
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self.text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def lessThan(self, left, right) -> bool:
        """Numbers by value; an empty cell (a failed trial's value) comes last in either order, as in a
        spreadsheet: an ascending sort of val_loss must not put the failed trials first."""
        a, b = left.data(self.sortRole()), right.data(self.sortRole())
        if a is None or b is None:
            return (a is None) != (b is None) and (b is None) == (self.sortOrder() == Qt.SortOrder.AscendingOrder)
        try:
            return a < b
        except TypeError:            # a choice of words and numbers: by their text
            return str(a) < str(b)

    def filterAcceptsRow(self, row, parent) -> bool:
        model = self.sourceModel()
        if self.numbers is not None and model.item(row, 0).data(Qt.ItemDataRole.UserRole) not in self.numbers:
            return False
        if self.text:
            cells = (model.item(row, c).text().lower() for c in range(model.columnCount()))
            return any(self.text in c for c in cells)
        return True


def _item(value, sort_value=None) -> QStandardItem:
    text = "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
    item = QStandardItem(text)
    item.setEditable(False)
    item.setData(sort_value if sort_value is not None else value, Qt.ItemDataRole.UserRole + 1)
    return item


def short_path(path: str) -> str:
    """A parameter path as the table and the legends name it: "fc1.out_features", "training.lr"."""
    return path.replace("blocks.", "").replace(".params.", ".")


class TrialTable(QSplitter):
    """The trials' table (left) and their parallel coordinates (right)."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.model = QStandardItemModel(self)
        self.proxy = _TrialFilter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole + 1)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.plot = ParallelCoordinates()
        self.plot.brushed.connect(self.proxy.set_numbers)
        self.addWidget(self.view)
        self.addWidget(self.plot)
        self.setSizes([520, 480])
        self.table_note = _placeholder(self.view.viewport(), TABLE_EMPTY)    # until the first trial
        self.plot_note = _placeholder(self.plot.viewport(), PLOT_EMPTY)
        self.setMinimumHeight(6 * self.fontMetrics().lineSpacing() + 16)      # the empty table's words, whole

    def filter_text(self, text: str) -> None:
        self.proxy.set_text(text)

    def show_rows(self, rows: list[dict], spec) -> None:
        """Fill the table and the plot; the trials selected stay selected (a running sweep refreshes the table at
        every trial's start and end, and would otherwise drop what the person picked)."""
        kept = set(self.selected_numbers())
        headers, body = table(rows, list(spec.params))
        self.model.clear()
        self.model.setHorizontalHeaderLabels([short_path(h) for h in headers])
        for r, values in zip(rows, body):
            items = [_item(v) for v in values]
            items[1] = _item(values[1], STATE_ORDER.get(values[1], 9))
            items[0].setData(r["number"], Qt.ItemDataRole.UserRole)
            if r.get("message"):
                for it in items:
                    it.setToolTip(r["message"])
            self.model.appendRow(items)
        self.plot.set_trials(rows, list(spec.params.items()), spec.objective, spec.direction == "maximize")
        self.table_note.setVisible(not rows)
        self.plot_note.setVisible(not rows)
        if kept:
            self._select(kept)

    def _select(self, numbers: set) -> None:
        selection = QItemSelection()
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if self.proxy.data(index, Qt.ItemDataRole.UserRole) in numbers:
                selection.select(index, self.proxy.index(r, self.proxy.columnCount() - 1))
        self.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def selected_numbers(self) -> list[int]:
        return [self.model.item(self.proxy.mapToSource(i).row(), 0).data(Qt.ItemDataRole.UserRole)
                for i in self.view.selectionModel().selectedRows()]


def trial_label(row: dict) -> str:
    """A trial as the Runs tab's legend names it: "trial 2: lr=0.003, fc1.out_features=60"."""
    values = ", ".join(f"{short_path(p).replace('training.', '')}={v:.4g}" if isinstance(v, float)
                       else f"{short_path(p).replace('training.', '')}={v}" for p, v in row["params"].items())
    return f"trial {row['number']}: {values}"


def _placeholder(viewport: QWidget, text: str) -> QLabel:
    """Grey words in the middle of an empty view, saying what fills it; clicks go through to the view."""
    note = QLabel(text)
    note.setObjectName("empty-note")
    note.setWordWrap(True)
    note.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)   # a short view cuts its end
    note.setToolTip(text)
    note.setTextFormat(Qt.TextFormat.PlainText)
    note.setStyleSheet("color: palette(placeholder-text); background: transparent;")
    note.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    layout = QVBoxLayout(viewport)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(note)
    return note
