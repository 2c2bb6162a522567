"""The open document with its undo stack, file path and live analysis.

One `Session` per window. Edits go through `edit()` (an undo command over document primitives);
after each change the analysis re-runs once and `analysed` tells the scene and the panels.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from layerloom.graph.analysis import AnalysisResult, Analyzer
from layerloom.graph.changes import Outcome, refused
from layerloom.graph.document import GraphDocument, GraphEditError

from .commands import Recorder, record


class Session(QObject):
    document_replaced = Signal(object)   # the new GraphDocument
    analysed = Signal(object)            # the AnalysisResult after a change (one per edit)
    message = Signal(str)                # a short note for the status bar
    meta_changed = Signal()              # name / description / path changed
    lock_changed = Signal()              # the document became read-only, or editable again

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.document = GraphDocument("Untitled")
        self.path: Path | None = None
        self.analyzer = Analyzer(self.document)
        self.result: AnalysisResult | None = None
        self._unsubscribe = self.document.subscribe(self._on_event)
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.flush)
        self.undo_stack.indexChanged.connect(lambda _i: self.flush())

    # -- document ---------------------------------------------------------------------------
    def set_document(self, doc: GraphDocument, path: Path | None = None, modified: bool = False) -> None:
        self._unsubscribe()
        self.undo_stack.clear()
        self.document = doc
        self.path = Path(path) if path else None
        self.analyzer = Analyzer(doc)
        self._unsubscribe = doc.subscribe(self._on_event)
        if modified:
            self.undo_stack.resetClean()
        else:
            self.undo_stack.setClean()
        self.document_replaced.emit(doc)
        self._pending = True
        self.flush()
        self.meta_changed.emit()

    def set_path(self, path: Path | None) -> None:
        self.path = Path(path) if path else None
        self.meta_changed.emit()

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    # -- analysis -----------------------------------------------------------------------------
    def _on_event(self, event) -> None:
        self._pending = True
        if event.type == "meta_changed":
            self.meta_changed.emit()
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> AnalysisResult:
        """Re-analyse now if anything changed since the last analysis, and tell the views."""
        if self._pending or self.result is None:
            self._pending = False
            self._timer.stop()
            self.result = self.analyzer.result
            self.analysed.emit(self.result)
        return self.result

    # -- undo and redo --------------------------------------------------------------------------
    def undo(self) -> bool:
        return self._step(self.undo_stack.index() - 1, self.undo_stack.undo)

    def redo(self) -> bool:
        return self._step(self.undo_stack.index(), self.undo_stack.redo)

    def _step(self, index: int, go) -> bool:
        """Undo or redo, unless the document is locked (e.g. during training) and the step would change
        the network: then say why and leave both the document and the stack as they are."""
        if not 0 <= index < self.undo_stack.count():
            return False
        command = self.undo_stack.command(index)
        locked = getattr(self.document, "locked", None)
        if locked and getattr(command, "changes_network", True):
            self.message.emit(f"Cannot {command.text()[:1].lower()}{command.text()[1:]} now: {locked}")
            return False
        go()
        return True

    # -- edits ----------------------------------------------------------------------------------
    def edit(self, text: str, build: Callable[[Recorder], Any]) -> Outcome:
        """Make one undoable edit: its Outcome holds build's result, or why the document refused it (a
        refused edit changes nothing and says why in the status bar too)."""
        try:
            command, result = record(self.document, text, build)
        except GraphEditError as exc:
            self.message.emit(f"{text}: {exc}")
            self.flush()
            return refused(str(exc))
        if command is not None:
            self.undo_stack.push(command)
        self.flush()
        return Outcome(result)

    def set_locked(self, doc: GraphDocument, reason: str | None) -> None:
        """Make `doc` read-only for network edits (reason) or editable again (None); the views follow."""
        if reason:
            doc.lock(reason)
        else:
            doc.unlock()
        self.lock_changed.emit()
