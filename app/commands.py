"""The undo adapter: one QUndoCommand per edit, over a `graph.changes.Transaction`.

An edit is written once, as a function that calls the transaction's verbs (add_block, connect, ...).
The transaction applies each change at once (the scene follows through the document's events) and
keeps its inverse. `EditCommand` undoes by applying the inverses and keeps what they return (the
changes again) to redo, so ids and positions stay exactly as they were. A failing edit is rolled back
before anything reaches the undo stack.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtGui import QUndoCommand

from layerloom.graph.changes import Change, Transaction, apply_all
from layerloom.graph.document import GraphDocument

Recorder = Transaction      # what an edit's build function receives


class EditCommand(QUndoCommand):
    """One undoable edit (already applied when pushed)."""

    def __init__(self, doc: GraphDocument, text: str, undo_list: list[Change]):
        super().__init__(text)
        self.doc = doc
        self._undo = list(undo_list)
        self._redo: list[Change] | None = None     # None: applied (the transaction did it)
        self.changes_network = any(c.network for c in self._undo)

    def redo(self) -> None:
        if self._redo is None:
            return
        self._undo, self._redo = apply_all(self.doc, self._redo), None

    def undo(self) -> None:
        self._redo = apply_all(self.doc, self._undo)


def record(doc: GraphDocument, text: str, build: Callable[[Transaction], Any]) -> tuple[EditCommand | None, Any]:
    """Run `build` in a transaction; return (the command, or None if nothing changed, build's result).

    Any exception rolls the document back to where it was and propagates.
    """
    with Transaction(doc) as transaction:
        result = build(transaction)
    if not transaction.changed:
        return None, result
    return EditCommand(doc, text, transaction.undo_list()), result
