"""Train ▸ Explain Predictions: the Explain panel (app/panels/explain.py) on the latest trained run."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt

from layerloom.graph.fileformat import graph_to_dict

from .extras_ui import latest_run
from .panels.explain import ExplainPanel

EXPLAIN_HEIGHT = 420


class Explaining:
    def __init__(self, win):
        self.win = win
        self.panel = ExplainPanel()
        self.panel.loaded.connect(self._loaded)

    def open(self, run_dir=None) -> bool:
        """Show the Explain dock on `run_dir` (else the latest trained run); the run loads in the background
        (`panel.loaded` says when). False when there is no run to show."""
        dock = self.win.docks["explain"]
        dock.show()
        dock.raise_()
        if not dock.isFloating() and dock.height() < EXPLAIN_HEIGHT:     # room for the sample and overlay
            self.win.resizeDocks([dock], [EXPLAIN_HEIGHT], Qt.Orientation.Vertical)
        run = run_dir or latest_run(self.win)
        if run is None:
            self.panel.message.setText("No trained run yet: train the graph (F5), then explain its predictions.")
            return False
        self.panel.load_run(run)
        return True

    def _loaded(self, shown: bool) -> None:
        if not shown:
            return
        trained, now = self.panel.subject.doc, self.win.document
        if trained.name == now.name and _network(trained) != _network(now):
            self.panel.message.setText("The graph has changed since this run: Explain shows the network as it was "
                                       "trained; train again to explain your edits.")

    def shutdown(self) -> None:
        self.panel.stop_all()


def _network(doc) -> tuple:
    """What decides the trained network: its blocks' kinds and parameters and its wiring (not where they sit)."""
    d = graph_to_dict(doc)
    return (sorted((b["id"], b["kind"], json.dumps(b["params"], sort_keys=True, default=str)) for b in d["blocks"]),
            sorted(json.dumps(e, sort_keys=True) for e in d["edges"]))
