"""Help ▸ Keyboard Shortcuts: every action of the window with its menu and keys, filtered as you type."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel, QLineEdit,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)

EXTRA = (   # keys that belong to the canvas itself rather than to an action
    ("Canvas", "Add a block by name", "Tab"),
    ("Canvas", "Pan", "Space+drag, middle-drag"),
    ("Canvas", "Zoom at the pointer", "Wheel"),
    ("Canvas", "Scroll sideways", "Shift+wheel"),
    ("Canvas", "Cancel a wire or a drag", "Esc"),
)


def rows(actions, menus) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every action, in menu order."""
    where = {}
    for menu_name, menu in menus.items():
        for act in menu.actions():
            where.setdefault(act.objectName(), menu.title().replace("&", ""))
    out = []
    for name, act in actions.items():
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in act.shortcuts())
        out.append((where.get(name, ""), act.text().replace("&", "").split("\t")[0], keys))
    return out + list(EXTRA)


class ShortcutsDialog(QDialog):
    def __init__(self, actions, menus, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search actions or keys (e.g. “zoom” or “Ctrl+S”)")
        self.search.setClearButtonEnabled(True)
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.empty = QLabel("No action matches.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addWidget(buttons)
        for r, row in enumerate(rows(actions, menus)):
            self.table.insertRow(r)
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.search.textChanged.connect(self.filter)
        self.resize(560, 560)

    def filter(self, text: str) -> None:
        words = text.lower().split()
        shown = 0
        for r in range(self.table.rowCount()):
            line = " ".join(self.table.item(r, c).text().lower() for c in range(3))
            hide = not all(w in line for w in words)
            self.table.setRowHidden(r, hide)
            shown += not hide
        self.empty.setVisible(shown == 0)

    def visible_actions(self) -> list[str]:
        return [self.table.item(r, 1).text() for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]
