"""Bringing networks and weights in.

File ▸ Import Model…: asks before the open graph gives way (stop a run, save changes), then the Import
dialog (app/import_dialog.py) imports off the GUI thread and the window opens what it wrote. A run is
stopped only then, when an import replaces the graph: cancelling the dialog leaves it training.
Edit ▸ Initialise Weights From…: the weights training starts from (app/init_from_dialog.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import places
from .modal import run_modal

if TYPE_CHECKING:         # the dialogs load the importers (torchvision, and with it TorchDynamo): on first use
    from .import_dialog import ImportDialog


class Importing:
    def __init__(self, win):
        self.win = win
        self.dialog: ImportDialog | None = None

    def folder(self) -> Path:
        """Where imported graphs go unless the person says otherwise: beside the open graph, else
        Documents/Layerloom/imports."""
        path = self.win.session.path
        if path and places.writable(Path(path).parent):
            return Path(path).parent
        return places.documents_folder() / "imports"

    def open_dialog(self) -> None:
        """Files.may_replace's questions (stop the run? save the changes?), but not its stop: the run stops in
        `_open`, once an import is there to replace the graph."""
        if not self.win.files.may_replace("import a model", stop=False):
            return
        from .import_dialog import ImportDialog

        self.dialog = ImportDialog(self.folder(), self.win)
        self.dialog.imported.connect(self._open)
        try:
            run_modal(self.dialog)
        finally:
            self.dialog = None

    def _open(self, path: str) -> None:
        """An import is written: stop the run (the person said yes before the dialog) and open it."""
        if not self.win.files.stop_run():
            self.win.session.message.emit(f"The run did not stop: open {Path(path).name} with File ▸ Open "
                                          "once it has ended.")
            return
        self.win.files.open(path, ask=False)

    def initialise_from(self) -> None:
        win = self.win
        if win.document.locked:
            win.session.message.emit(f"Cannot change the starting weights now: {win.document.locked}")
            return
        from .init_from_dialog import InitFromDialog

        run_modal(InitFromDialog(win.session, win.training.runs_base, win))
