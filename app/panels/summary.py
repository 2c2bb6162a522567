"""The summary table: block, kind, output shape, params and FLOPs per block, with totals, and the
training memory the Training panel's settings need (estimated off the GUI thread, app/memory_estimate.py).

Clicking a row selects the block on the canvas and centres it.
"""
from __future__ import annotations

import html

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from layerloom.graph.blocks import get_kind
from layerloom.graph.diagnostics import shape_text
from layerloom.graph.summary import COST_TOOLTIP, human, partial_text

from .. import theme
from ..session import Session
from .palette import kind_icon

COLUMNS = ("Block", "Kind", "Output shape", "Params", "MACs", "FLOPs")
SHAPE = 2                                   # the column that stretches
WIDTHS = (140, 170, None, 110, 90, 90)      # the usual widths
LEAST = (80, 100, None, 64, 56, 56)         # what each gives up to in a narrow panel, in this order:
SHRINK_ORDER = (1, 0, 3, 4, 5)
MEMORY_TIP = ("Peak memory of one training step with the Training panel's batch size, optimizer and device: tensors "
              "alive at the peak, measured by running the step on fake tensors (no data, no compute).")


class SummaryModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple] = []   # (id, kind, category, shape text, params, macs, status)

    def set_rows(self, rows: list[tuple]) -> None:
        if rows == self.rows:
            return
        if len(rows) == len(self.rows):
            self.rows = rows
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section >= 4:
            return COST_TOOLTIP
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole and section >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        bid, kind, category, shape, params, macs, status = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if status == "analysing":
                return (bid, kind, shape, "…", "…", "…")[col]
            return (bid, kind, shape, f"{params:,}" if status == "ok" else "—",
                    human(macs) if status == "ok" else "—", human(2 * macs) if status == "ok" else "—")[col]
        if role == Qt.ItemDataRole.DecorationRole and col == 1:
            return kind_icon(category)
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and status in ("error", "cycle") and col == 2:
            return QColor(theme.current().error)
        if role == Qt.ItemDataRole.ForegroundRole and status in ("blocked", "analysing", "unavailable"):
            return QColor(theme.current().text_muted)
        if role == Qt.ItemDataRole.ToolTipRole and col in (0, 2):
            return (bid, None, shape)[col]          # a long id or shape is cut short in its column
        if role == Qt.ItemDataRole.ToolTipRole and col >= 4 and status == "ok":
            return f"{macs:,} MACs · {2 * macs:,} FLOPs per sample\n{COST_TOOLTIP}"
        if role == Qt.ItemDataRole.UserRole:
            return bid
        return None


class SummaryPanel(QWidget):
    block_clicked = Signal(str)

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        self.model = SummaryModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self._shape_room = 0            # what the longest output shape needs (refresh measures it)
        self._fitting = False
        self._user_sized = False        # a column resized by hand: the panel stops fitting them
        for col, width in enumerate(WIDTHS):
            self.table.setColumnWidth(col, width or 160)
        header.sectionResized.connect(self._section_resized)
        self.table.viewport().installEventFilter(self)
        self.totals = QLabel(self)
        self.totals.setContentsMargins(6, 2, 6, 0)
        self.totals.setWordWrap(True)   # a long line must not hold the bottom docks, and so the side docks, at its width
        self.memory = QLabel(self)
        self.memory.setContentsMargins(6, 0, 6, 4)
        self.memory.setWordWrap(True)
        self.memory.setTextFormat(Qt.TextFormat.PlainText)
        self.memory.setToolTip(MEMORY_TIP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.table)
        layout.addWidget(self.totals)
        layout.addWidget(self.memory)
        self.table.clicked.connect(lambda index: self.block_clicked.emit(self.model.rows[index.row()][0]))
        session.analysed.connect(self.refresh)

    def refresh(self, result=None) -> None:
        result = result or self.session.result
        doc = self.session.document
        if result is None:           # analysis is still loading: the blocks, their numbers to follow
            pending = self.session.pending_text
            status = "unavailable" if self.session.unavailable else "analysing"
            self.model.set_rows([(bid, b.kind, get_kind(b.kind).category, pending, 0, 0, status)
                                 for bid, b in doc.blocks.items()])
            why = (f": shapes, parameters and MACs need PyTorch. {html.escape(self.session.unavailable)}"
                   if self.session.unavailable else " (shapes, parameters and MACs appear once analysis has loaded)")
            self.totals.setText(f"<b>{len(doc.blocks)}</b> blocks · {pending}{why}")
            return
        rows = []
        for bid, r in result.blocks.items():
            block = doc.blocks.get(bid)
            if block is None:
                continue
            if r.ok and r.output_shape is not None:
                shape = shape_text(r.output_shape)
            else:
                shape = {"blocked": "not computed", "cycle": "cycle"}.get(r.status, "error")
            rows.append((bid, r.kind, get_kind(r.kind).category, shape, r.param_count, r.macs, r.status))
        self.model.set_rows(rows)
        self._measure_shapes(rows)
        self.totals.setText(f"<b>{len(rows)}</b> blocks · <b>{result.total_params:,}</b> parameters · "
                            f"<b>{human(result.total_macs)}</b> MACs · <b>{human(result.total_flops)}</b> FLOPs per "
                            f"sample{' (' + partial_text(result) + ')' if result.not_computed else ''}")
        self.totals.setToolTip(COST_TOOLTIP)

    # -- columns --------------------------------------------------------------------------------------
    def _measure_shapes(self, rows) -> None:
        metrics = self.table.fontMetrics()
        texts = [COLUMNS[SHAPE]] + [str(r[SHAPE]) for r in rows[:2000]]
        self._shape_room = min(320, max(metrics.horizontalAdvance(t) for t in texts) + 24)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """In a narrow panel the output shapes keep the room they need: the Kind, Block and number columns
        give theirs first (down to a least width each); wide enough, every column has its usual width."""
        if self._user_sized:
            return
        widths = list(WIDTHS)
        excess = sum(w for w in widths if w) + self._shape_room - self.table.viewport().width()
        for col in SHRINK_ORDER:
            if excess <= 0:
                break
            cut = min(excess, widths[col] - LEAST[col])
            widths[col] -= cut
            excess -= cut
        self._fitting = True
        for col, width in enumerate(widths):
            if width and self.table.columnWidth(col) != width:
                self.table.setColumnWidth(col, width)
        self._fitting = False

    def _section_resized(self, col: int, _old: int, _new: int) -> None:
        if not self._fitting and col != SHAPE and self.table.isVisible():
            self._user_sized = True

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.table.viewport():
            self._fit_columns()
        return super().eventFilter(watched, event)

    def show_memory(self, estimator) -> None:
        """The estimator's state as one line (two when the estimate does not fit the device now)."""
        from layerloom.runtime.memory_report import headline

        tip = MEMORY_TIP
        if estimator.state == "done":      # the peak on the line, what it is made of in the tooltip: the parts
            text = headline(estimator.estimate, breakdown=False)       # took two more lines, and the table their room
            tip = f"{headline(estimator.estimate)}\n\n{MEMORY_TIP}"
            if estimator.check is not None and not estimator.check.fits:
                text += "\n" + estimator.check.warning
        elif estimator.state == "estimating":
            text = "Training memory: estimating…"
        elif estimator.state == "failed":
            text = f"Training memory: {estimator.message}"
        else:
            text = ""
        warn = estimator.state == "done" and estimator.check is not None and not estimator.check.fits
        self.memory.setStyleSheet(f"color: {theme.current().warning.name()};" if warn else "")
        self.memory.setText(text)
        self.memory.setToolTip(tip)

    def row_of(self, block_id: str) -> int:
        return next((i for i, r in enumerate(self.model.rows) if r[0] == block_id), -1)
