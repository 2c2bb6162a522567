"""The problems list: every diagnostic of the analysis, errors first, each with its fix as a button.

Clicking a row selects the block it is about and centres it on the canvas.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QPushButton, QStackedLayout, QTreeWidget,
                               QTreeWidgetItem, QWidget)

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
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
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
            item.setSizeHint(1, QSize(200, 24))
            self.tree.addTopLevelItem(item)
            if d.fix:
                button = QPushButton(edits.fix_label(d.fix))
                button.setObjectName("fix")
                button.clicked.connect(lambda _=False, f=d.fix: edits.apply_fix(self.session, f))
                self.tree.setItemWidget(item, 2, button)
        self.stack.setCurrentWidget(self.tree if diags else self.empty)
        self.count_changed.emit(len(result.errors), len(result.warnings))

    def fix_buttons(self) -> list[QPushButton]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            w = self.tree.itemWidget(self.tree.topLevelItem(i), 2)
            if w is not None:
                out.append(w)
        return out

    def _clicked(self, item: QTreeWidgetItem, column: int) -> None:
        bid = item.data(0, Qt.ItemDataRole.UserRole)
        if bid:
            self.block_clicked.emit(bid)
