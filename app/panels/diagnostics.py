"""The problems list: every diagnostic of the analysis, errors first, each with its fix as a button.

Clicking a row selects the block it is about and centres it on the canvas.
"""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QPushButton, QStackedLayout,
                               QStyledItemDelegate, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from .. import edits, theme
from ..session import Session

NO_PROBLEMS = "No problems: every block has a shape."


def dot_icon(colour: QColor, size: int = 12) -> QIcon:
    pm = QPixmap(size * 2, size * 2)
    pm.setDevicePixelRatio(2.0)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawEllipse(2, 2, size - 4, size - 4)
    p.end()
    return QIcon(pm)


class _Wrapped(QStyledItemDelegate):
    """Rows as tall as their Problem text wrapped at the column's present width (a tree measures text on one
    line, and would cut a message's second half, where it says what to do)."""

    def __init__(self, tree: QTreeWidget):
        super().__init__(tree)
        self.tree = tree

    def sizeHint(self, option, index) -> QSize:
        hint = super().sizeHint(option, index)
        if index.column() != 1:
            return hint
        width = max(40, self.tree.header().sectionSize(1) - 10)
        text = option.fontMetrics.boundingRect(QRect(0, 0, width, 1 << 20), Qt.TextFlag.TextWordWrap,
                                               str(index.data() or ""))
        return QSize(hint.width(), max(hint.height(), 24, text.height() + 8))


class DiagnosticsPanel(QWidget):
    block_clicked = Signal(str)
    count_changed = Signal(int, int)   # errors, warnings

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Block", "Problem", "Fix"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)
        self.tree.setItemDelegate(_Wrapped(self.tree))
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        # a message wraps onto as many lines as it needs, at the width the Problem column has now
        header.sectionResized.connect(lambda *_: self.tree.scheduleDelayedItemsLayout())
        self.empty = QLabel(NO_PROBLEMS, self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: palette(placeholder-text);")
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.tree)
        self.tree.itemClicked.connect(self._clicked)
        self.diagnostics = []
        session.analysed.connect(self.refresh)

    def refresh(self, result=None) -> None:
        result = result or self.session.result
        if result is None:           # analysis is still loading
            self.diagnostics = []
            self.tree.clear()
            self.empty.setText("Analysing… any problems appear here in a moment.")
            self.stack.setCurrentWidget(self.empty)
            return
        self.empty.setText(NO_PROBLEMS)
        diags = sorted(result.diagnostics, key=lambda d: d.severity != "error")
        if diags == self.diagnostics:
            return
        self.diagnostics = diags
        self.tree.clear()
        t = theme.current()
        icons = {"error": dot_icon(t.error), "warning": dot_icon(t.warning)}
        for d in diags:
            item = QTreeWidgetItem([d.block or "graph", d.message, ""])
            item.setIcon(0, icons.get(d.severity, icons["warning"]))
            item.setToolTip(1, d.message)
            item.setData(0, Qt.ItemDataRole.UserRole, d.block)
            self.tree.addTopLevelItem(item)
            if d.fix:
                button = QPushButton(edits.fix_label(d.fix))
                button.setObjectName("fix")
                button.clicked.connect(lambda _=False, f=d.fix: edits.apply_fix(self.session, f))
                cell = QWidget()                     # the button keeps its height in a row of several lines
                column = QVBoxLayout(cell)
                column.setContentsMargins(0, 0, 0, 0)
                column.addWidget(button)
                column.addStretch(1)
                self.tree.setItemWidget(item, 2, cell)
        self.stack.setCurrentWidget(self.tree if diags else self.empty)
        self.count_changed.emit(len(result.errors), len(result.warnings))

    def fix_buttons(self) -> list[QPushButton]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            cell = self.tree.itemWidget(self.tree.topLevelItem(i), 2)
            if cell is not None:
                out.append(cell.findChild(QPushButton))
        return out

    def _clicked(self, item: QTreeWidgetItem, column: int) -> None:
        bid = item.data(0, Qt.ItemDataRole.UserRole)
        if bid:
            self.block_clicked.emit(bid)
