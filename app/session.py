"""The open document with its undo stack, file path and live analysis.

One `Session` per window. Edits go through `edit()` (an undo command over document primitives);
after each change the analysis re-runs once and `analysed` tells the scene and the panels.

Analysis needs torch, and the window paints its graph before torch has loaded: the session loads
graph analysis in a background thread (app/analysis_loading.py), analysing the open document there
the first time; the window starts that once it has painted. Until then `result` is the result kept
from an earlier analysis of the same network (app/analysis_cache.py), else the analysis worked out
from the documented rules without torch (graph/quick_analysis.py: equal to torch's, for the graphs
whose every block it can vouch for), else None (the views show "analysing…"); `analysis_ready` fires
once, and after it every change is analysed in the GUI thread as before. `flush()` returns torch's
result: it waits for the loading when it has to.

Where PyTorch cannot be imported (a broken install), `unavailable` says why and what to do,
`analysis_unavailable` fires once, and the views say "not analysed" where the numbers would be: the
graph can still be edited and saved, and a kept result of the same network still shows.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from layerloom.graph.changes import Outcome, refused
from layerloom.graph.document import GraphDocument, GraphEditError
from layerloom.graph.lazy_torch import LibraryUnavailable, import_or_explain
from layerloom.graph.quick_analysis import quick_analyze

from . import analysis_cache, analysis_loading
from .commands import Recorder, record

if TYPE_CHECKING:
    from layerloom.graph.analysis import AnalysisResult, Analyzer


ANALYSING = "analysing…"      # what the views show where numbers will be once analysis has loaded
NOT_ANALYSED = "not analysed"  # ... and where they cannot come, PyTorch having failed to load


class Session(QObject):
    document_replaced = Signal(object)   # the new GraphDocument
    analysed = Signal(object)            # the AnalysisResult after a change (one per edit); None while
    #                                      analysis is still loading
    message = Signal(str)                # a short note for the status bar
    meta_changed = Signal()              # name / description / path changed
    lock_changed = Signal()              # the document became read-only, or editable again
    analysis_ready = Signal()            # analysis has loaded (once): results follow every change from now on
    analysis_unavailable = Signal(str)   # PyTorch could not be imported (once): why, and what to do

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.document = GraphDocument("Untitled")
        self.path: Path | None = None
        self._analyzer: Analyzer | None = None
        self._data: dict | None = None
        self.result: AnalysisResult | None = None      # None: not analysed yet ("analysing…")
        self.unavailable: str | None = None             # why analysis cannot load, once that is known
        self._loading = analysis_loading.Loading(self)
        self._loading.loaded.connect(self._analysis_loaded)
        self._loading.unavailable.connect(self._analysis_unavailable)
        self._unsubscribe = self.document.subscribe(self._on_event)
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self.undo_stack.indexChanged.connect(lambda _i: self.refresh())

    # -- document ---------------------------------------------------------------------------
    def set_document(self, doc: GraphDocument, path: Path | None = None, modified: bool = False) -> None:
        self._unsubscribe()
        self.undo_stack.clear()
        self.document = doc
        self.path = Path(path) if path else None
        self._analyzer = None
        self.result = None
        self._unsubscribe = doc.subscribe(self._on_event)
        if modified:
            self.undo_stack.resetClean()
        else:
            self.undo_stack.setClean()
        self.document_replaced.emit(doc)
        self._pending = True
        self.refresh()
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
    @property
    def ready(self) -> bool:
        """Whether analysis has loaded (torch with it): changes are analysed as they happen."""
        return analysis_loading.ready()

    @property
    def pending_text(self) -> str:
        """What the views show where the numbers of a block would be, while there are none."""
        return NOT_ANALYSED if self.unavailable else ANALYSING

    @property
    def analyzer(self) -> Analyzer:
        """The document's analyzer (waits for analysis to load when it has not yet); raises
        LibraryUnavailable where PyTorch cannot be imported."""
        if self._analyzer is None or self._analyzer.doc is not self.document:
            analysis = import_or_explain(analysis_loading.MODULE)
            self._analyzer = analysis.Analyzer(self.document, self._data)
        return self._analyzer

    @property
    def data(self) -> dict | None:
        """The data set's facts ({"num_classes", "vocab_size"}) that data-driven "auto" params follow."""
        return self._data

    def set_data(self, data: dict | None) -> None:
        self._data = data
        if self._analyzer is not None:
            self._analyzer.set_data(data)
        self._pending = True

    def _on_event(self, event) -> None:
        self._pending = True
        if event.type == "meta_changed":
            self.meta_changed.emit()
        if not self._timer.isActive():
            self._timer.start()

    def refresh(self) -> AnalysisResult | None:
        """Analyse now if analysis has loaded; otherwise start loading it (the first document is analysed
        in the background) and return the result kept from an earlier analysis of the same network, or
        the quick analysis's, or None: torch's result follows with `analysed` either way."""
        if self.ready:
            return self.flush()
        self._pending = True
        if not self.unavailable:
            self._loading.request(self.document, self._data)
        # the result kept from an earlier analysis of this very network, else the rules' (when they vouch
        # for every block), else None: "analysing…"
        self.result = analysis_cache.lookup(self.document, self._data) or quick_analyze(self.document, self._data)
        self.analysed.emit(self.result)
        return self.result

    def flush(self) -> AnalysisResult | None:
        """Re-analyse now if anything changed since the last analysis, and tell the views. Waits for
        analysis to load if it has not yet. Where PyTorch cannot be imported it returns what `refresh`
        does (a kept result of the same network, else None) and `unavailable` says why."""
        if self.unavailable and not self.ready:
            return self.refresh()
        if self._pending or self.result is None:
            try:
                analyzer = self.analyzer
            except LibraryUnavailable as exc:
                self._analysis_unavailable(str(exc))
                return self.result
            self._pending = False
            self._timer.stop()
            self.result = analyzer.result
            self.analysed.emit(self.result)
        return self.result

    def start_loading(self) -> None:
        """Load analysis in the background now (the window calls this once it has painted)."""
        self._loading.go()

    def _analysis_loaded(self, doc, revision: int, data, result) -> None:
        """Analysis has loaded in the background, with the result of the document as it was then."""
        if result is not None and doc is self.document and doc.revision == revision and data == self._data:
            self.analyzer.adopt(result, revision)
        if self._pending or self.result is None:
            self.flush()
        self.remember_result()
        self.analysis_ready.emit()

    def _analysis_unavailable(self, reason: str) -> None:
        """PyTorch could not be imported: the views say "not analysed" (or show a kept result), once."""
        if self.unavailable:
            return
        self.unavailable = reason
        self.refresh()
        self.analysis_unavailable.emit(reason)

    def remember_result(self) -> None:
        """Keep the current analysis on disk (app/analysis_cache.py): opened again, the graph shows its
        shapes before analysis has loaded."""
        if self.ready and self.result is not None and not self._pending:
            analysis_cache.store(self.document, self._data, self.result)

    # -- undo and redo --------------------------------------------------------------------------
    def undo(self) -> bool:
        return self._step(self.undo_stack.index() - 1, self.undo_stack.undo, "undo")

    def redo(self) -> bool:
        return self._step(self.undo_stack.index(), self.undo_stack.redo, "redo")

    def _step(self, index: int, go, verb: str) -> bool:
        """Undo or redo, unless the document is locked (e.g. during training) and the step would change
        the network: then say why and leave both the document and the stack as they are."""
        if not 0 <= index < self.undo_stack.count():
            return False
        command = self.undo_stack.command(index)
        locked = getattr(self.document, "locked", None)
        if locked and getattr(command, "changes_network", True):
            self.message.emit(f"Cannot {verb} “{command.text()}” now: {locked}")
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
            self.refresh()
            return refused(str(exc))
        if command is not None:
            self.undo_stack.push(command)
        self.refresh()
        return Outcome(result)

    def set_locked(self, doc: GraphDocument, reason: str | None) -> None:
        """Make `doc` read-only for network edits (reason) or editable again (None); the views follow."""
        if reason:
            doc.lock(reason)
        else:
            doc.unlock()
        self.lock_changed.emit()
