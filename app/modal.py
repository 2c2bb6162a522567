"""Modal dialogs that are freed once closed."""
from __future__ import annotations


def run_modal(dialog) -> int:
    """Show `dialog` until it is closed, then free it. A dialog is parented to the window (so that it opens
    over it), which would otherwise keep every closed one alive as long as the window, with all it holds: an
    imported model and its weights, connections that make it rescan the runs folder whenever a run ends."""
    try:
        return dialog.exec()
    finally:
        dialog.deleteLater()
