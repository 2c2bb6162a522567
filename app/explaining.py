"""Train ▸ Explain Predictions: the Explain panel (app/panels/explain.py) on the latest trained run."""
from __future__ import annotations

from PySide6.QtCore import Qt

from .extras_ui import latest_run
from .panels.explain import ExplainPanel

EXPLAIN_HEIGHT = 420


class Explaining:
    def __init__(self, win):
        self.win = win
        self.panel = ExplainPanel()

    def open(self, run_dir=None) -> bool:
        dock = self.win.docks["explain"]
        dock.show()
        dock.raise_()
        if not dock.isFloating() and dock.height() < EXPLAIN_HEIGHT:     # room for the sample and overlay
            self.win.resizeDocks([dock], [EXPLAIN_HEIGHT], Qt.Orientation.Vertical)
        run = run_dir or latest_run(self.win)
        if run is None:
            self.panel.message.setText("No trained run yet: train the graph (F5), then explain its predictions.")
            return False
        return self.panel.load_run(run)

    def shutdown(self) -> None:
        self.panel.stop_all()
