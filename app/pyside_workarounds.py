"""Workarounds for bugs in the Qt binding, applied when `layerloom.app` is imported.

PySide6 6.12.0 on Python 3.11 hands back None, True and False without taking a reference to them
(Python 3.12 made them immortal, so the missing Py_INCREF only matters before 3.12): every void
call such as `QPainter.setPen()` drops one reference to None, and every `signal.emit()` one to
True or False. After some tens of thousands of calls (seconds of live plotting, minutes of canvas
painting) CPython aborts with "none_dealloc: deallocating None" or "bool_dealloc". PySide6 6.11.3
is not affected. Until the dependency excludes 6.12, the three singletons get 2**60 extra
references here, which is what "immortal" means in 3.12: the binding's missing increments can
never bring them to zero.
"""
from __future__ import annotations

import ctypes
import sys

from .versions import installed_version

EXTRA_REFERENCES = 1 << 60


SINGLETONS = (None, True, False)


def binding_drops_references() -> dict:
    """How many references to None / True / False 64 void calls and 64 emits lose (measured, not guessed)."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    before = [sys.getrefcount(s) for s in SINGLETONS]
    for _ in range(64):
        probe.setObjectName("probe")
        probe.ping.emit()
    return {repr(s): b - sys.getrefcount(s) for s, b in zip(SINGLETONS, before)}


def pyside_version() -> tuple[int, ...]:
    """The installed PySide6's version, read without importing Qt (CLI subcommands must not load it)."""
    text = installed_version("PySide6") or ""
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def keep_singletons_alive() -> bool:
    """Give None, True and False enough references to outlive the binding's leak; True when done.
    Harmless where the binding is right: an object with 2**60 more references simply lives on."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False        # immortal there
    if pyside_version() < (6, 12):
        return False
    for obj in SINGLETONS:
        if sys.getrefcount(obj) < EXTRA_REFERENCES:
            ctypes.c_ssize_t.from_address(id(obj)).value += EXTRA_REFERENCES
    return True


# -- garbage collection only in the GUI thread ------------------------------------------------------
# Python's cyclic garbage collector runs in whichever thread happens to allocate when a threshold is
# crossed. When that is a worker thread (training, export, data loading) and the garbage holds
# QObjects (a closed window's widgets and their signal lambdas form cycles), their C++ destructors
# run there: ~QObject takes Qt's connection lock and then waits for the GIL, while the GUI thread,
# holding the GIL, waits for that lock. Seen here as a hang of the test suite during an export.
# pyqtgraph's answer, used here too: switch automatic collection off and collect from a GUI timer.
# At its first tick (the window is built) everything alive is frozen (gc.freeze): torch, Qt and the
# window are ~400,000 objects that a full collection would otherwise scan each time (about 200 ms,
# all of it holding the GIL the training thread needs); afterwards collections take well under 1 ms.

class GuiThreadGarbageCollector:
    """Collects each generation from a timer in the GUI thread when its count passes the threshold."""

    def __init__(self, interval_ms: int = 100):
        import gc

        from PySide6.QtCore import QCoreApplication, QTimer
        self.gc = gc
        self.threshold = gc.get_threshold()
        self.frozen = False
        gc.disable()
        self.timer = QTimer(QCoreApplication.instance())
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def freeze_again(self) -> None:
        """A large part has loaded since (torch and pyqtgraph load after the window's first paint, see
        window.py): collect and freeze once more at the next tick, so collections do not rescan it."""
        self.frozen = False

    def check(self) -> None:
        if not self.frozen:
            self.gc.collect()
            self.gc.freeze()
            self.frozen = True
            return
        c0, c1, c2 = self.gc.get_count()
        if c2 > self.threshold[2]:
            self.gc.collect(2)
        elif c1 > self.threshold[1]:
            self.gc.collect(1)
        elif c0 > self.threshold[0]:
            self.gc.collect(0)


_collector: GuiThreadGarbageCollector | None = None


def collect_garbage_in_gui_thread() -> GuiThreadGarbageCollector | None:
    """Start the GUI-thread collector once per application (call from the GUI thread, with a QApplication)."""
    global _collector
    from PySide6.QtCore import QCoreApplication, QThread
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return None
    if _collector is None or _collector.timer.parent() is not app:
        _collector = GuiThreadGarbageCollector()
    return _collector
