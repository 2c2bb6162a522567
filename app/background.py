"""Threads that outlive their owner: a running QThread must never be destroyed (Qt aborts the process),
so one that is still busy when its owner gives up on it is kept here until it finishes, and the app
waits for them all before the process exits."""
from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, QThread, Signal

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


def job_threads() -> None:
    """Give the calling job thread the intra-op threads a run would get without measuring. The window's
    process keeps one thread outside training (runtime/threads.py), but a job's thread ends with its
    job (explaining, pruning, a lesson's steps), and its OpenMP workers end with it, so it may use the
    cores while it lasts. Nothing to do before torch has loaded: the job's ops then take one thread."""
    if "torch" in sys.modules:
        from layerloom.runtime.threads import default_threads, use_threads
        use_threads(default_threads())


def import_dynamo_first() -> None:
    """A job that works with torch may be the first to use a part of it that imports torch._dynamo (an
    optimizer's step, the memory tracker, torch.export): it imports that package first, one thread at a
    time (graph/lazy_torch.py says why). Nothing to do before torch has loaded."""
    if "torch" in sys.modules:
        from layerloom.graph.lazy_torch import import_dynamo
        import_dynamo()


class Job(QThread):
    """One piece of work off the GUI thread (an import, reading weights, an explanation): `fn()` runs in
    the thread; once `finished` arrives in the GUI thread, `result` holds what it returned, or `error`
    one line saying why it failed (never a traceback).

    `fn` may report how far it got with `job.progress.emit(done, total)` (it arrives in the GUI thread)
    and should stop early once `job.cancel` (a threading.Event) is set: `cancelled = True` sets it from
    the GUI thread when the answer is no longer wanted. How an exception reads: its message alone for
    the `expected` types (already a sentence for people), `describe(exc)` for any other when given,
    else "Type: message". A job whose work never touches torch (reading files, importing Layerloom's own
    modules) is made with `torch_work=False`; any other imports torch._dynamo first, safely, when torch has
    loaded (`import_dynamo_first`)."""

    progress = Signal(int, int)

    def __init__(self, fn, name: str = "layerloom-job", expected: tuple = (), describe=None, parent=None,
                 torch_work: bool = True):
        super().__init__(parent)
        self.setObjectName(name)
        self.fn = fn
        self.torch_work = torch_work
        self.expected = expected
        self.describe = describe
        self.cancel = threading.Event()
        self.result = None
        self.error = ""

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    @cancelled.setter
    def cancelled(self, value: bool) -> None:
        self.cancel.set() if value else self.cancel.clear()

    def run(self) -> None:
        job_threads()
        try:
            if self.torch_work:
                import_dynamo_first()
            self.result = self.fn()
        except self.expected as exc:
            self.error = one_line(str(exc))
        except Exception as exc:      # anything else still ends as one line in the panel or dialog
            self.error = one_line(self.describe(exc) if self.describe else f"{type(exc).__name__}: {exc}")


def one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Latest(QObject):
    """One background job at a time for requests where only the newest matters (the data set chosen now,
    the training memory of the graph as it is now). `submit(key, fn)` runs `fn(job)` in a Job, or queues
    it while another runs, replacing whatever was queued before; each finished job arrives in the GUI
    thread through `done(job)`, with `job.key`, `job.result` and `job.error`. `job.cancelled` is set
    when its answer is no longer wanted (`fn` may read it between phases to stop early)."""

    done = Signal(object)

    def __init__(self, name: str, expected: tuple = (), parent: QObject | None = None, torch_work: bool = True):
        super().__init__(parent)
        self.name, self.expected, self.torch_work = name, expected, torch_work
        self.running: Job | None = None
        self.queued: tuple | None = None       # (key, fn)

    def submit(self, key, fn) -> None:
        self.queued = (key, fn)
        if self.running is None:
            self._start_next()

    def cancel_running(self) -> None:
        if self.running is not None:
            self.running.cancelled = True

    def drop_queued(self) -> None:
        self.queued = None

    def _start_next(self) -> None:
        if self.queued is None:
            return
        key, fn = self.queued
        self.queued = None
        job = Job(lambda: fn(job), name=self.name, expected=self.expected, torch_work=self.torch_work)
        job.key = key                            # job.cancelled: set from the GUI thread, read in `fn`
        self.running = job
        job.finished.connect(self._finished)
        job.start()

    def _finished(self) -> None:
        job = self.running
        if job is None or not job.isFinished():
            return
        job.wait()
        self.running = None
        job.deleteLater()
        self.done.emit(job)
        self._start_next()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until nothing runs or is queued, handling events meanwhile (tests, screenshots)."""
        from PySide6.QtCore import QCoreApplication, QDeadlineTimer

        deadline = QDeadlineTimer(timeout_ms)
        while self.running is not None or self.queued is not None:
            if deadline.hasExpired():
                return False
            if self.running is not None:
                self.running.wait(50)
            QCoreApplication.processEvents()
        return True

    def shutdown(self, timeout_ms: int) -> bool:
        """The owner is closing: drop what is queued, ask the running job to stop and wait for it; one still
        busy after the timeout is kept alive (a running QThread must never be destroyed) until it ends."""
        self.queued = None
        job = self.running
        if job is None:
            return True
        job.cancelled = True
        ok = job.wait(timeout_ms)
        self.running = None
        if not ok:
            keep_until_finished(job)
        return ok
