"""The block palette: every kind of the registry, grouped by category, searchable, draggable.

Drag an entry onto the canvas, or double-click it (or press Enter in the search box) to add it at
the centre of the canvas.
"""
from __future__ import annotations

import html
from functools import lru_cache

from PySide6.QtCore import QMimeData, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QGuiApplication, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from layerloom.graph.blocks import REGISTRY, kinds_by_category

from .. import theme

KIND_MIME = "application/x-layerloom-kind"


@lru_cache(maxsize=64)
def kind_icon(category: str, size: int = 14) -> QIcon:
    """A rounded swatch in the category colour, drawn at the screen's pixel ratio (crisp on high DPI)."""
    screen = QGuiApplication.primaryScreen()
    ratio = max(1.0, screen.devicePixelRatio() if screen is not None else 1.0, 2.0)
    pm = QPixmap(round(size * ratio), round(size * ratio))
    pm.setDevicePixelRatio(ratio)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = QColor(theme.CATEGORY_COLORS.get(category, "#7c8796"))
    p.setPen(colour.darker(125))
    p.setBrush(colour)
    p.drawRoundedRect(QRectF(1, 1, size - 2, size - 2), 3.5, 3.5)
    p.end()
    return QIcon(pm)


def kind_tooltip(name: str) -> str:
    kind = REGISTRY[name]
    parts = [f"<b>{html.escape(name)}</b> <span style='color:gray'>· {html.escape(kind.category)}</span>",
             html.escape(kind.doc)]
    if kind.formula:
        parts.append(f"<code>{html.escape(kind.formula)}</code>")
    parts.append("<i>Drag onto the canvas, or double-click to add.</i>")
    return "<br>".join(parts)


def run_drag(drag: QDrag) -> None:
    """Start the drag (a seam: tests replace it to deliver the drop without a nested event loop)."""
    drag.exec(Qt.DropAction.CopyAction)


class PaletteTree(QTreeWidget):
    def startDrag(self, supported_actions) -> None:
        item = self.currentItem()
        name = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if not name:
            return
        mime = QMimeData()
        mime.setData(KIND_MIME, name.encode("utf-8"))
        mime.setText(name)
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.setPixmap(item.icon(0).pixmap(QSize(16, 16)))
        run_drag(drag)


MIN_WIDTH = 140                 # pixels: the palette's least width, whatever the panels below it ask for


class Palette(QWidget):
    add_requested = Signal(str)    # a kind to add at the centre of the canvas

    def __init__(self, parent=None):
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search blocks…")
        self.search.setClearButtonEnabled(True)
        self.tree = PaletteTree(self)
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.setIndentation(12)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAnimated(False)
        self.tree.setIconSize(QSize(14, 14))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        self.no_match = QLabel(self)             # what to try when the search finds no block
        self.no_match.setWordWrap(True)
        self.no_match.setTextFormat(Qt.TextFormat.PlainText)
        self.no_match.setStyleSheet("color: palette(placeholder-text);")
        self.no_match.hide()
        layout.addWidget(self.search)
        layout.addWidget(self.no_match)
        layout.addWidget(self.tree)
        # never squeezed to "Inp" / "Co" by a wide panel below: the search box's hint and a block's name stay whole
        self.setMinimumWidth(max(MIN_WIDTH, self.fontMetrics().horizontalAdvance("Search blocks…") + 64))
        self.items: dict[str, QTreeWidgetItem] = {}
        self._fill()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first_match)
        self.tree.itemDoubleClicked.connect(self._double_clicked)

    def _fill(self) -> None:
        bold = self.tree.font()
        bold.setBold(True)
        for category, kinds in kinds_by_category().items():
            if not kinds:
                continue
            top = QTreeWidgetItem([category])
            top.setFont(0, bold)
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setIcon(0, kind_icon(category))
            self.tree.addTopLevelItem(top)
            for kind in kinds:
                child = QTreeWidgetItem([kind.name])
                child.setData(0, Qt.ItemDataRole.UserRole, kind.name)
                child.setToolTip(0, kind_tooltip(kind.name))
                child.setIcon(0, kind_icon(category))
                child.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                top.addChild(child)
                self.items[kind.name] = child
        self.tree.expandAll()

    def filter(self, text: str) -> None:
        q = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            shown = 0
            for j in range(top.childCount()):
                child = top.child(j)
                name = child.data(0, Qt.ItemDataRole.UserRole)
                kind = REGISTRY[name]
                hit = not q or q in name.lower() or q in kind.doc.lower() or q in kind.category.lower()
                child.setHidden(not hit)
                shown += hit
            top.setHidden(shown == 0)
            top.setExpanded(True)
        self.no_match.setText(f"No block matches “{text.strip()[:60]}”. Blocks are named as in torch.nn "
                              "(Linear, Conv2d, MaxPool2d, LSTM…); clear the search to see them all.")
        self.no_match.setVisible(bool(q) and not self.visible_kinds())

    def visible_kinds(self) -> list[str]:
        return [name for name, item in self.items.items() if not item.isHidden() and not item.parent().isHidden()]

    def _add_first_match(self) -> None:
        q = self.search.text().strip().lower()
        kinds = self.visible_kinds()
        exact = [k for k in kinds if k.lower() == q]
        if exact or kinds:
            self.add_requested.emit((exact or kinds)[0])

    def _double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        name = item.data(0, Qt.ItemDataRole.UserRole)
        if name:
            self.add_requested.emit(name)
