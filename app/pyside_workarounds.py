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
from importlib import metadata

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
    for dist in ("PySide6-Essentials", "PySide6"):
        try:
            return tuple(int(p) for p in metadata.version(dist).split(".")[:2] if p.isdigit())
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return ()


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
