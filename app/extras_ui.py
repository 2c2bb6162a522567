"""Export and the embedding explorer in the main window: File ▸ Export Model…, View ▸ Embeddings."""
from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence

from layerloom.graph.fileformat import save_graph
from layerloom.runtime.runs import list_runs, slug

from .export_dialog import ExportDialog
from .panels.embeddings import EmbeddingView


def _menu(win, title: str):
    for action in win.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == title:
            return action.menu()
    return win.menuBar().addMenu(title)


def _runs_base() -> Path:
    return Path(str(QSettings().value("training/runs_dir", str(Path.cwd() / "runs"))))


def latest_run(win) -> Path | None:
    """The run the user most likely means: the app's last run, else the newest in the runs folder."""
    training = getattr(win, "training", None)
    session = getattr(training, "training", None)
    last = getattr(session, "last_run_dir", None)
    if last and (Path(last) / "checkpoints" / "latest.json").exists():
        return Path(last)
    for run in list_runs(_runs_base()):
        if (run.path / "checkpoints" / "latest.json").exists():
            return run.path
    return None


class Extras:
    def __init__(self, win):
        self.win = win
        self.export_action = QAction("Export Model…", win)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setStatusTip("Export the last trained run (or this graph) to ONNX, pt2, weights or a "
                                        "PyTorch project")
        self.export_action.triggered.connect(self.export)
        file_menu = _menu(win, "File")
        quit_action = next((a for a in file_menu.actions() if a.text().replace("&", "").startswith("Quit")), None)
        file_menu.insertAction(quit_action, self.export_action)
        if quit_action is not None:
            file_menu.insertSeparator(quit_action)
        self.embeddings = EmbeddingView()
        self.dock = win.add_panel("embeddings", "Embeddings", self.embeddings, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock.hide()
        self.embed_action = QAction("Explore Embeddings", win)
        self.embed_action.setStatusTip("Nearest words and a 2-D map of a trained Embedding block")
        self.embed_action.triggered.connect(self.explore_embeddings)
        _menu(win, "View").addAction(self.embed_action)

    def export(self):
        run = latest_run(self.win)
        doc = self.win.document
        destination = str(Path.cwd() / "exports" / slug(doc.name))
        if run is not None:
            dialog = ExportDialog(run, f"Export the trained run {run.name}", destination, self.win, trained=True)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="layerloom-export-")) / "graph.loom.json"
            save_graph(doc, tmp)
            dialog = ExportDialog(tmp, f"Export {doc.name}", destination, self.win, trained=False)
        dialog.exec()

    def explore_embeddings(self):
        self.dock.show()
        self.dock.raise_()
        run = latest_run(self.win)
        if run is None:
            self.embeddings.message.setText("No trained run yet: train a graph with an Embedding first.")
            return
        self.embeddings.load_run(run)


def install_extras(win) -> Extras:
    win.extras = Extras(win)
    return win.extras
