"""Export and the embedding explorer in the main window: File ▸ Export Model…, View ▸ Embeddings."""
from __future__ import annotations

import tempfile
from pathlib import Path

from layerloom.graph.fileformat import save_graph
from layerloom.runtime.runs import list_runs, slug

from . import settings
from .export_dialog import ExportDialog
from .panels.embeddings import EmbeddingView


def latest_run(win) -> Path | None:
    """The run the user most likely means: the app's last run, else the newest in the runs folder."""
    last = win.training.training.last_run_dir
    if last and (Path(last) / "checkpoints" / "latest.json").exists():
        return Path(last)
    for run in list_runs(settings.runs_dir()):
        if (run.path / "checkpoints" / "latest.json").exists():
            return run.path
    return None


class Extras:
    """File ▸ Export Model… and View ▸ Explore Embeddings (their actions are rows of app/menus.py)."""

    def __init__(self, win):
        self.win = win
        self.embeddings = EmbeddingView()

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
        dock = self.win.docks["embeddings"]
        dock.show()
        dock.raise_()
        run = latest_run(self.win)
        if run is None:
            self.embeddings.message.setText("No trained run yet: train a graph with an Embedding first.")
            return
        self.embeddings.load_run(run)
