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


class Job(QThread):
    """One piece of work off the GUI thread (an import, reading weights): `fn()` runs in the thread; once
    `finished` arrives in the GUI thread, `result` holds what it returned, or `error` one line saying why
    it failed (never a traceback)."""

    def __init__(self, fn, name: str = "layerloom-job", expected: tuple = ()):
        super().__init__()
        self.setObjectName(name)
        self.fn = fn
        self.expected = expected      # exception types whose message is already a sentence for people
        self.result = None
        self.error = ""

    def run(self) -> None:
        try:
            self.result = self.fn()
        except self.expected as exc:
            self.error = one_line(str(exc))
        except Exception as exc:      # anything else still ends as one line in the dialog
            self.error = one_line(f"{type(exc).__name__}: {exc}")


def one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
