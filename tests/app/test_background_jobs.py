"""app/background.Job, the one way the window runs work off the GUI thread (imports, exports,
explanations, the learning panels' steps): its result or one line of error, progress that arrives in
the GUI thread in order, and cancelling from the GUI thread."""
from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from layerloom.app.background import Job, Latest


class Refused(ValueError):
    pass


def run(qtbot, job: Job) -> Job:
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.start()
    job.wait()
    return job


def test_a_job_ends_with_its_result_or_one_line_saying_why(qtbot):
    assert run(qtbot, Job(lambda: 6 * 7)).result == 42
    refused = run(qtbot, Job(lambda: (_ for _ in ()).throw(Refused("the folder is read-only.")), expected=(Refused,)))
    assert refused.result is None and refused.error == "the folder is read-only."
    named = run(qtbot, Job(lambda: {}["weights"]))
    assert named.error == "KeyError: 'weights'"
    described = run(qtbot, Job(lambda: 1 / 0, describe=lambda exc: f"could not divide ({exc})"))
    assert described.error == "could not divide (division by zero)"
    long = run(qtbot, Job(lambda: (_ for _ in ()).throw(RuntimeError("line\n" * 300))))
    assert "\n" not in long.error and len(long.error) <= 400 and long.error.endswith("…")


def test_progress_arrives_in_the_gui_thread_in_order(qtbot):
    seen = []

    def work():
        for i in range(5):
            job.progress.emit(i, 5)
        return "done"
    job = Job(work)
    job.progress.connect(lambda i, n: seen.append((i, n, QThread.currentThread() is qtbot_thread)))
    qtbot_thread = QThread.currentThread()
    run(qtbot, job)
    qtbot.waitUntil(lambda: len(seen) == 5)
    assert seen == [(i, 5, True) for i in range(5)] and job.result == "done"


def test_cancelling_from_the_gui_thread_stops_the_work_early(qtbot):
    started = threading.Event()
    rounds = []

    def work():
        started.set()
        while not job.cancel.wait(0.01):
            rounds.append(1)
            if len(rounds) > 3000:           # 30 s: the cancel never arrived
                return "never cancelled"
        return "stopped"
    job = Job(work)
    with qtbot.waitSignal(job.finished, timeout=40_000):
        job.start()
        assert started.wait(10)
        assert not job.cancelled
        job.cancelled = True
    job.wait()
    assert job.result == "stopped" and job.cancelled


def test_latest_cancels_the_running_job_and_runs_only_the_newest_queued(qtbot):
    latest = Latest("layerloom-test")
    gate, seen = threading.Event(), []
    latest.done.connect(lambda job: seen.append((job.key, job.result, job.cancelled)))

    def slow(job):
        gate.wait(10)
        return "stale" if job.cancelled else "fresh"
    latest.submit("a", slow)
    latest.submit("b", lambda job: "b")       # queued behind a, then replaced
    latest.submit("c", lambda job: "c")
    latest.cancel_running()
    gate.set()
    assert latest.wait(20_000)
    assert seen == [("a", "stale", True), ("c", "c", False)]
