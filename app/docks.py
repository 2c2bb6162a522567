"""The window's docked panels as one table, and the default layout that View ▸ Reset Layout restores.

To add a panel: construct its widget in a part built by window.py, then add a `Dock` row below with
the widget's dotted path on the window. The row says where the panel starts: its area, whether it is
shown, and which dock it shares tabs with. It gets an entry in View ▸ Panels by itself.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QTabBar

from .layout_fence import LayoutFence

Area = Qt.DockWidgetArea
LEFT, RIGHT, BOTTOM = Area.LeftDockWidgetArea, Area.RightDockWidgetArea, Area.BottomDockWidgetArea


@dataclass(frozen=True)
class Dock:
    name: str              # object name "dock:<name>" (the saved layout refers to it); window.docks[name]
    title: str
    widget: str            # dotted path on the window
    area: Area
    shown: bool = True     # in the default layout
    tab_with: str = ""     # a dock listed earlier: this one becomes a tab beside it
    front: bool = False    # the tab in front of its group


DOCKS: tuple[Dock, ...] = (
    Dock("palette", "Blocks", "palette", LEFT),
    Dock("inspector", "Inspector", "inspector", RIGHT, front=True),
    Dock("training", "Training", "training.panel", RIGHT, tab_with="inspector"),
    Dock("feature_maps", "Feature maps", "training.maps", RIGHT, shown=False),
    Dock("summary", "Summary", "summary", BOTTOM, front=True),
    Dock("problems", "Problems", "problems", BOTTOM, tab_with="summary"),
    Dock("curves", "Curves", "training.plots", BOTTOM, tab_with="problems"),
    Dock("runs", "Runs", "training.runs", BOTTOM, tab_with="curves"),
    Dock("epoch_results", "Validation", "training.epochs", BOTTOM, shown=False),
    Dock("embeddings", "Embeddings", "extras.embeddings", BOTTOM, shown=False),
    Dock("lessons", "Lessons", "learning.lessons", RIGHT, shown=False, tab_with="training"),
    Dock("inside", "Inside", "learning.inside", BOTTOM, shown=False, tab_with="runs"),
    Dock("step", "Step mode", "learning.step", RIGHT, shown=False, tab_with="training"),
    Dock("explain", "Explain", "explaining.panel", BOTTOM, shown=False, tab_with="runs"),
    Dock("experiments", "Experiment", "experiments", BOTTOM, shown=False, tab_with="runs"),
    Dock("benchmark", "Benchmark", "benchmarking.panel", BOTTOM, shown=False, tab_with="runs"),
)

# Default sizes: (dock names, sizes, orientation); a window WIDE or wider gives the palette room for
# its longest names ("AdaptiveMaxPool2d", "MultiheadAttention") without eliding them
SIZES = ((("palette", "inspector"), (190, 330), Qt.Orientation.Horizontal),
         (("summary",), (190,), Qt.Orientation.Vertical))
WIDE, WIDE_PALETTE = 1440, 225


class PanelDock(QDockWidget):
    """A dock whose panel sits in a LayoutFence (app/layout_fence.py), so that a text changing in the
    panel does not lay out the whole window again. `widget()` is the panel itself."""

    def __init__(self, title: str, parent: QMainWindow):
        super().__init__(title, parent)
        self._panel = None

    def setWidget(self, panel) -> None:
        old = super().widget()
        self._panel = panel
        super().setWidget(LayoutFence(panel) if panel is not None else None)
        if old is not None:           # with the panel it held, unless that has moved on (deleted with it)
            old.hide()
            old.deleteLater()

    def widget(self):
        return self._panel


def in_sight(widget) -> bool:
    """Whether any of `widget` can be seen. A dock whose tab is behind another's stays visible to Qt
    (`isVisible()` is true): its dock area moves it out of the window instead of hiding it, and says so
    through the dock's `visibilityChanged`. What is left of it to paint is then nothing."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def make_dock(win: QMainWindow, name: str, title: str, widget) -> QDockWidget:
    dock = PanelDock(title, win)
    dock.setObjectName(f"dock:{name}")
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                     | QDockWidget.DockWidgetFeature.DockWidgetClosable
                     | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
    return dock


def build_docks(win: QMainWindow, later: tuple[str, ...] = ()) -> dict[str, QDockWidget]:
    """A QDockWidget for every row of DOCKS (placed by `arrange`). A row whose widget belongs to a part in
    `later` (built once analysis is ready, see window.py) holds a placeholder until `fill_later`."""
    docks = {}
    for spec in DOCKS:
        widget = _placeholder() if _part(spec) in later else operator.attrgetter(spec.widget)(win)
        docks[spec.name] = make_dock(win, spec.name, spec.title, widget)
        win.addDockWidget(spec.area, docks[spec.name])
        if not spec.shown or spec.tab_with:     # side by side until `arrange` tabs them: the window would
            docks[spec.name].hide()             # grow to fit them all when it first shows
    return docks


def fill_later(win: QMainWindow, later: tuple[str, ...]) -> None:
    """The parts in `later` are built: their panels replace the placeholders."""
    for spec in DOCKS:
        if _part(spec) in later:
            dock = win.docks[spec.name]
            dock.setWidget(operator.attrgetter(spec.widget)(win))     # the placeholder goes with its fence


def say_unavailable(win: QMainWindow, later: tuple[str, ...], text: str) -> None:
    """The parts in `later` will not be built (a library they need could not be loaded): their placeholders
    say why, in `text`."""
    for spec in DOCKS:
        widget = win.docks[spec.name].widget()
        if _part(spec) in later and isinstance(widget, QLabel):
            widget.setText(text)


def _part(spec: Dock) -> str:
    return spec.widget.split(".", 1)[0]


def _placeholder() -> QLabel:
    label = QLabel("Loading…")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def arrange(win: QMainWindow) -> None:
    """Put every dock of DOCKS where the default layout has it (View ▸ Reset Layout)."""
    docks = win.docks
    size = win.size()
    for spec in DOCKS:
        dock = docks[spec.name]
        dock.setFloating(False)
        win.addDockWidget(spec.area, dock)
        dock.setVisible(spec.shown)
    for spec in DOCKS:
        if spec.tab_with:
            win.tabifyDockWidget(docks[spec.tab_with], docks[spec.name])
    for spec in DOCKS:
        if spec.front:
            docks[spec.name].raise_()
    for names, sizes, orientation in SIZES:
        if names[0] == "palette" and size.width() >= WIDE:
            sizes = (WIDE_PALETTE, *sizes[1:])
        win.resizeDocks([docks[n] for n in names], list(sizes), orientation)
    if win.size() != size:            # re-docking grows the window from the docks' size hints: keep its size
        win.resize(size.expandedTo(win.minimumSizeHint()))
    _drop_stale_tab_bars(win)


def _drop_stale_tab_bars(win: QMainWindow) -> None:
    """Tabifying docks that were already tabbed (Reset Layout after Explain and Benchmark opened) leaves Qt 6.12's
    earlier tab bars shown, painted over the palette and the panels' titles. Every dock tab bar is hidden, and the
    window's layout, laid out again, shows the ones its tab groups use."""
    for bar in win.findChildren(QTabBar):
        if bar.parent() is win:
            bar.hide()
    win.layout().invalidate()
    win.layout().activate()


class ArrangeOnShow(QObject):
    """Arranges the docks when the window first shows. Tabified before that, Qt 6.12 leaves a stale copy
    of the tab bar painted where the window's first layout put it."""

    def __init__(self, win: QMainWindow):
        super().__init__(win)
        self.win = win
        win.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.win and event.type() == QEvent.Type.Show:
            self.win.removeEventFilter(self)
            arrange(self.win)
        return False


def arrange_now_or_on_show(win: QMainWindow) -> None:
    if win.isVisible():
        arrange(win)
    else:
        ArrangeOnShow(win)
