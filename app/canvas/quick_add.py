"""The quick-add popup: type a few letters of a block kind, press Enter, the block lands at the cursor."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from layerloom.graph.blocks import CATEGORIES, REGISTRY

from ..panels.palette import kind_icon


def matches(query: str) -> list[str]:
    """Kinds for a query, best first: name prefix, then name contains, then category/doc contains."""
    q = query.strip().lower()
    order = sorted(REGISTRY.values(), key=lambda k: (CATEGORIES.index(k.category), k.name))
    if not q:
        return [k.name for k in order]
    ranked = []
    for k in order:
        name = k.name.lower()
        if name.startswith(q):
            ranked.append((0, k.name))
        elif q in name:
            ranked.append((1, k.name))
        elif q in k.category.lower() or q in k.doc.lower():
            ranked.append((2, k.name))
    return [name for _, name in sorted(ranked, key=lambda r: r[0])]


class QuickAdd(QFrame):
    chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("QuickAdd")
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Add block…  (type to search, Enter to add)")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setUniformItemSizes(True)
        self.list.setIconSize(QSize(14, 14))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.no_match = QLabel(self)
        self.no_match.setWordWrap(True)
        self.no_match.setTextFormat(Qt.TextFormat.PlainText)
        self.no_match.setStyleSheet("color: palette(placeholder-text);")
        self.no_match.hide()
        layout.addWidget(self.search)
        layout.addWidget(self.no_match)
        layout.addWidget(self.list)
        self.resize(300, 340)
        self.search.textChanged.connect(self._refill)
        self.search.installEventFilter(self)
        self.list.itemActivated.connect(lambda item: self._choose(item.data(Qt.ItemDataRole.UserRole)))
        self.list.itemClicked.connect(lambda item: self._choose(item.data(Qt.ItemDataRole.UserRole)))

    def _refill(self, text: str) -> None:
        self.list.clear()
        for name in matches(text):
            kind = REGISTRY[name]
            item = QListWidgetItem(kind_icon(kind.category), f"{name}    ·  {kind.category}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(kind.doc)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        # nothing to add: say what to try (Enter keeps the popup and the text)
        self.no_match.setText(f"No block matches “{text.strip()[:40]}”. Blocks are named as in torch.nn "
                              "(Linear, Conv2d, MaxPool2d, LSTM…).")
        self.no_match.setVisible(not self.list.count())

    def popup_at(self, global_pos) -> None:
        """Open with its top left at `global_pos`, moved up or left as far as it takes to lie whole on the screen
        (opened low on the canvas, its list ran off the bottom of the screen)."""
        self.search.clear()
        self._refill("")
        screen = QGuiApplication.screenAt(global_pos) or self.screen()
        room = screen.availableGeometry()
        self.move(global_pos)
        self.show()
        frame = self.frameGeometry()          # with what the window system adds around it
        self.move(self.pos() + QPoint(max(room.left() - frame.left(), min(0, room.right() - frame.right())),
                                      max(room.top() - frame.top(), min(0, room.bottom() - frame.bottom()))))
        self.search.setFocus()

    def _choose(self, name: str | None) -> None:
        self.hide()
        if name:
            self.chosen.emit(name)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.search and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                row = self.list.currentRow() + {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1,
                                                Qt.Key.Key_PageDown: 8, Qt.Key.Key_PageUp: -8}[key]
                self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                item = self.list.currentItem()
                if item is not None:
                    self._choose(item.data(Qt.ItemDataRole.UserRole))
                return True
            if key == Qt.Key.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(obj, event)
