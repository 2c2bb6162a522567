"""Loading graph analysis off the GUI thread.

Analysis (layerloom.graph.analysis) runs every block on meta tensors, so it imports torch: about a
second and a half, more on a busy machine. The window draws the graph without it, and a `Loading`
imports it in a background thread, analysing a copy of the open document there at the same time, so
the first shapes arrive as soon as torch has. The session then adopts that result if the document has
not changed meanwhile (else it analyses again, now in a few milliseconds).
"""
from __future__ import annotations

import importlib
import sys

from PySide6.QtCore import QObject, Signal

from layerloom.graph.lazy_torch import LibraryUnavailable, import_or_explain, imported

from .background import Job, keep_until_finished

MODULE = "layerloom.graph.analysis"


def ready() -> bool:
    """Whether analysis has been imported completely (by anything: the loading thread, a CLI, a test)."""
    return imported(MODULE)


# PyTorch's largest shared libraries, which `import torch` loads (as dependencies of torch._C) with the GIL
# held: about 0.3 s in which the window could not run a line of Python (an input event, a timer).
TORCH_LIBRARIES = ("libc10.so", "libtorch_cpu.so")


def load_torch_libraries() -> None:
    """Load TORCH_LIBRARIES before `import torch`, which then finds them loaded, with the C library's
    dlopen called through ctypes: a foreign call releases the GIL, so other threads (the window) run
    meanwhile. (ctypes.CDLL itself holds the GIL while the library loads.) Each is loaded RTLD_LOCAL, as
    `import torch` loads it, so no symbol is shared more widely than it would be. Where this cannot be
    done (no such file, another platform), `import torch` loads them as usual, or says why it cannot."""
    import ctypes
    import importlib.util
    import os
    spec = importlib.util.find_spec("torch")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    try:
        dlopen = ctypes.CDLL(None).dlopen
    except (OSError, AttributeError, TypeError):
        return
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    for folder in folders:
        for name in TORCH_LIBRARIES:
            path = os.path.join(folder, "lib", name)
            if not os.path.isfile(path) or not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
                return


class Unavailable:
    """What the loading thread returns when PyTorch (or a library analysis needs) cannot be imported."""

    def __init__(self, reason: str):
        self.reason = reason


def _load_and_analyse(doc, data):
    if "torch" not in sys.modules:
        load_torch_libraries()
    try:
        import_or_explain("torch")
        analysis = import_or_explain(MODULE)
    except LibraryUnavailable as exc:
        return Unavailable(str(exc))
    return analysis.analyze(doc, data)


class Loading(QObject):
    """Imports analysis in a background thread once; `loaded(doc, revision, data, result)` arrives in
    the GUI thread with the analysis of `doc` as it was at `revision` (None when that failed: the
    session then analyses in the GUI thread, where a failure is reported like any other), or
    `unavailable(reason)` when PyTorch or a library analysis needs could not be imported (a broken
    install: nothing can analyse, and the reason says what to do).

    `request()` names the document to analyse on the way; the thread starts at `go()` (the window calls
    it at its first paint, so the import does not compete with building and painting the window) or at
    once when `go()` came first."""

    loaded = Signal(object, int, object, object)
    unavailable = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.job: Job | None = None
        self._request = None
        self._go = False

    def request(self, doc, data) -> None:
        """Analyse `doc` (a copy of it as it is when the thread starts); the newest request counts."""
        if self.job is None:
            self._request = (doc, data)
            if self._go:
                self._start()

    def go(self) -> None:
        """Start the thread now if a document is waiting, else as soon as one is."""
        self._go = True
        if self._request is not None and self.job is None:
            self._start()

    def _start(self) -> None:
        doc, data = self._request
        revision, copy = doc.revision, doc.copy()       # as it is when the thread starts
        self.job = Job(lambda: _load_and_analyse(copy, data), name="layerloom-analysis-loading", torch_work=False)
        self.job.finished.connect(lambda: self._finished(doc, revision, data))
        keep_until_finished(self.job)
        self.job.start()

    def _finished(self, doc, revision: int, data) -> None:
        result = self.job.result
        if isinstance(result, Unavailable):
            self.unavailable.emit(result.reason)
        else:
            self.loaded.emit(doc, revision, data, result)


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


def preload(modules: tuple[str, ...]) -> Job:
    """Import `modules` in a background thread (module code only: classes and functions are defined,
    no widget is made, so it is safe off the GUI thread); the job's `finished` arrives in the GUI
    thread. A module that fails to import is imported again, and fails visibly, where it is used."""
    job = Job(lambda: _import_all(modules), name="layerloom-preload", torch_work=False)
    keep_until_finished(job)
    job.start()
    return job
