"""Workarounds for bugs in the Qt binding, applied when `layerloom.app` is imported.

PySide6 6.12.0 on Python 3.11 hands back None, True and False without taking a reference to them
(Python 3.12 made them immortal, so the missing Py_INCREF only matters before 3.12): every void
call such as `QPainter.setPen()` drops one reference to None, and every `signal.emit()` one to
True or False. After some tens of thousands of calls (seconds of live plotting, minutes of canvas
painting) CPython aborts with "none_dealloc: deallocating None" or "bool_dealloc". PySide6 6.11.3
is not affected. Until the dependency excludes 6.12, the three singletons get 2**60 extra
references here, which is what "immortal" means in 3.12: the binding's missing increments can
never bring them to zero.

PySide6 also reads the whole source of every module imported after it (see `scan_imports_cheaply`):
half a second and 100 MB for torch. That check is replaced by a cheap one that looks at names only.
"""
from __future__ import annotations

import ctypes
import sys
import types

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


# -- the binding's check of every imported module --------------------------------------------------
# PySide6 hooks imports to learn which modules use it (for `from __feature__ import ...`, its opt-in
# snake_case and true_property modes): each module imported after PySide6 gets its source read in
# full (inspect.getsource, through linecache, which keeps it) and searched for "PySide6". Measured
# here: torch and torchvision, loaded after the window is up, spent 0.45-0.50 s of their 5 s in it
# and left 44 MB of source text in linecache (process 846 MB against 738 MB without).
# The answer only matters to a module that selects a feature, and none does here: with nothing
# selected, every module gets the binding's default behaviour whatever its answer. The cheap check
# below still gives the binding's answer for each Layerloom module that uses Qt at import (the test
# names the two that mention PySide6 only in text); other packages' modules that reach Qt through a
# wrapper (pyqtgraph.Qt) may be answered differently, to the same effect.

_CLASS_MODULE = type.__dict__["__module__"]      # a class's module, read without its metaclass


def _holds_pyside(module) -> bool:
    """True when one of the module's globals is PySide6 or shiboken6, or a class or function of theirs;
    False for a module without Python source (the binding's own check cannot read one either). Only
    modules, classes and functions are asked their names: no object's own code runs. It runs inside
    every import, so it never raises: a module it cannot look at counts as not using the binding."""
    try:
        namespace = vars(module)
        if not str(namespace.get("__file__") or "").endswith(".py"):
            return False
        for value in list(namespace.values()):
            kind = type(value)            # type(), not isinstance(): that would ask the object its __class__
            if issubclass(kind, types.ModuleType):
                name = vars(value).get("__name__")
            elif issubclass(kind, type):
                name = _CLASS_MODULE.__get__(value, kind)
            elif kind in (types.FunctionType, types.BuiltinFunctionType):
                name = value.__module__
            else:
                continue
            if isinstance(name, str) and name.startswith(("PySide6", "shiboken6")):
                return True
    except Exception:
        return False
    return False


def scan_imports_cheaply() -> bool:
    """Replace the binding's read-the-source check of each imported module by `_holds_pyside`; True
    when done. Nothing changes where the binding has no such check (another version)."""
    feature = sys.modules.get("shibokensupport.feature")
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)) \
            or not isinstance(getattr(feature, "pyside_feature_dict", None), dict):
        return False
    feature._mod_uses_pyside = _holds_pyside
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

    def __init__(self, interval_ms: int = 100, first_ms: int = 1000):
        """The first tick (a full collection and the freeze, about 15 ms) comes after `first_ms`, or when
        the window calls `check()` after its first paint: not just before that paint, where a first tick
        due after `interval_ms` fell (building the window takes longer than one interval)."""
        import gc

        from PySide6.QtCore import QCoreApplication, QTimer
        self.gc = gc
        self.threshold = gc.get_threshold()
        self.frozen = False
        self.interval_ms = interval_ms
        self.before_freeze = 2       # the generation collected before the next freeze (2: all)
        gc.disable()
        self.timer = QTimer(QCoreApplication.instance())
        self.timer.setInterval(first_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def freeze_again(self) -> None:
        """A large part has loaded since (torch and pyqtgraph load after the window's first paint, see
        window.py): freeze once more at the next tick, so collections do not rescan it. Only the young
        generations are collected first: a full collection then took 95-145 ms of the GUI thread to find
        about 10 more unreachable objects (the imports' garbage is young), and those stay frozen."""
        self.frozen = False
        self.before_freeze = 1

    def check(self) -> None:
        if self.timer.interval() != self.interval_ms:
            self.timer.setInterval(self.interval_ms)
        if not self.frozen:
            self.gc.collect(self.before_freeze)
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
