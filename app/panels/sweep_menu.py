""""Sweep this parameter": the right-click menu that the Inspector's block parameters and the Training
panel's settings share. Both ask runtime.sweeps.spec.starting_spec for a range around the current
value and send (path, SPEC) to the window, which adds the line to the Experiment panel."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMenu

SWEEP = "Sweep this parameter"


def run_menu(menu: QMenu, where) -> None:
    """Show a context menu (a seam: tests replace it to pick an action without a nested event loop)."""
    menu.exec(where)


def offer_sweep(label: QLabel, request: Callable[[], None]) -> None:
    """Give a parameter's label a right-click menu whose one entry, "Sweep this parameter", calls `request`."""
    label.setToolTip((label.toolTip() + "\n" if label.toolTip() else "") + f"(right-click: {SWEEP})")
    label.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def show(pos) -> None:
        menu = QMenu(label)
        menu.addAction(SWEEP, request)
        run_menu(menu, label.mapToGlobal(pos))
    label.customContextMenuRequested.connect(show)
