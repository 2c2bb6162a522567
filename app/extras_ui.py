"""The embedding explorer in the main window: View ▸ Explore Embeddings."""
from __future__ import annotations

from pathlib import Path

from layerloom.runtime.runs import list_runs

from .panels.embeddings import EmbeddingView


def latest_run(win) -> Path | None:
    """The run the user most likely means: the app's last run, else the newest run of the open graph in the
    window's runs folder (the one its Runs list shows), else the newest run there of any graph."""
    last = win.training.run.last_run_dir
    if last and (Path(last) / "checkpoints" / "latest.json").exists():
        return Path(last)
    runs = [r for r in list_runs(win.training.runs_base) if (r.path / "checkpoints" / "latest.json").exists()]
    same = [r for r in runs if r.graph_name == win.document.name]
    return (same or runs)[0].path if runs else None


class Extras:
    """View ▸ Explore Embeddings (its action is a row of app/menus.py, its dock a row of app/docks.py)."""

    def __init__(self, win):
        self.win = win
        self.embeddings = EmbeddingView()

    def explore_embeddings(self):
        dock = self.win.docks["embeddings"]
        dock.show()
        dock.raise_()
        run = latest_run(self.win)
        if run is None:
            self.embeddings.message.setText("No trained run yet: train a graph with an Embedding first.")
            return
        self.embeddings.load_run(run)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """The window closes: a run's Embedding still loading is given up (its thread kept until it ends)."""
        self.embeddings.loader.shutdown(timeout_ms)
