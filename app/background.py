"""Threads that outlive their owner: a running QThread must never be destroyed (Qt aborts the process),
so one that is still busy when its owner gives up on it is kept here until it finishes, and the app
waits for them all before the process exits."""
from __future__ import annotations

from PySide6.QtCore import QThread

_kept: list[QThread] = []


def keep_until_finished(thread: QThread) -> None:
    """Hold a reference to `thread` until it has finished."""
    if thread.isFinished():
        return
    _kept.append(thread)
    thread.finished.connect(lambda: _kept.remove(thread) if thread in _kept else None)


def still_running() -> int:
    return sum(1 for t in _kept if not t.isFinished())


def wait_for_all(timeout_ms: int | None = None) -> bool:
    """Before the process exits: wait for every kept thread (each loads or saves something that cannot be
    interrupted). True when all have finished."""
    ok = True
    for thread in list(_kept):
        ok = (thread.wait() if timeout_ms is None else thread.wait(timeout_ms)) and ok
    _kept.clear() if ok else None
    return ok
