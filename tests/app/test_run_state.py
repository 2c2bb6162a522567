"""The run controller: the one owner of the run state. Every transition of its table is driven by the
input that causes it in the window (the check, a button, a trainer event, the end of the run thread),
and inputs that make no sense in a state change nothing."""
from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import QObject, Signal

from layerloom.app.training.controller import ACTIVE, ENDED, TRANSITIONS, RunController, RunState

S = RunState


class FakeRunThread(QObject):
    """Stands in for the run thread's bridge (app/training/run_thread.py): records what it was asked and
    lets the test send the trainer's events and end the thread."""
    event = Signal(object)
    running_changed = Signal(bool)

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def start(self, *args, **kwargs):
        self.calls.append("start")
        self.running_changed.emit(True)

    def pause(self):
        self.calls.append("pause")

    def resume(self):
        self.calls.append("resume")

    def stop(self):
        self.calls.append("stop")

    def set_lr(self, lr):
        self.calls.append(f"lr={lr}")

    def shutdown(self, timeout_ms):
        self.calls.append("shutdown")
        self.end()
        return True

    def send(self, **event):
        self.event.emit(event)

    def end(self, **last_event):
        if last_event:
            self.send(**last_event)
        self.running_changed.emit(False)


STARTED = {"type": "started", "total_steps": 10, "start_step": 0, "epochs": 1, "config": {"lr": 0.01}}
FINISHED = {"type": "finished", "stopped": False, "summary": {"status": "finished", "steps": 10}}
STOPPED = {"type": "finished", "stopped": True, "summary": {"status": "stopped", "steps": 4}}
FAILED = {"type": "failed", "message": "step 1: the model failed on a training batch", "step": 1}


def start(c, t):
    assert c.start(None, {}, "runs")
    t.send(**STARTED)


# How each state is reached from a new controller, and the input that causes each transition.
REACH = {
    S.IDLE: [],
    S.LOADING_DATA: [lambda c, t: c.set_readiness(loading=True, ready=False)],
    S.READY: [lambda c, t: c.set_readiness(loading=False, ready=True)],
    S.RUNNING: [lambda c, t: c.set_readiness(loading=False, ready=True), start],
    S.PAUSED: [lambda c, t: c.set_readiness(loading=False, ready=True), start, lambda c, t: t.send(type="paused")],
    S.STOPPING: [lambda c, t: c.set_readiness(loading=False, ready=True), start, lambda c, t: c.stop()],
    S.FINISHED: [lambda c, t: c.set_readiness(loading=False, ready=True), start, lambda c, t: t.end(**FINISHED)],
    S.FAILED: [lambda c, t: c.set_readiness(loading=False, ready=True), start, lambda c, t: t.end(**FAILED)],
    S.STOPPED: [lambda c, t: c.set_readiness(loading=False, ready=True), start, lambda c, t: c.stop(),
                lambda c, t: t.end(**STOPPED)],
}
CAUSE = {
    S.IDLE: lambda c, t: c.set_readiness(loading=False, ready=False),
    S.LOADING_DATA: lambda c, t: c.set_readiness(loading=True, ready=False),
    S.READY: lambda c, t: c.set_readiness(loading=False, ready=True),
    S.PAUSED: lambda c, t: t.send(type="paused"),
    S.STOPPING: lambda c, t: c.stop(),
    S.FINISHED: lambda c, t: t.end(**FINISHED),
    S.FAILED: lambda c, t: t.end(**FAILED),
    S.STOPPED: lambda c, t: t.end(**STOPPED),
}


def cause(old, new):
    if new == S.RUNNING:
        return (lambda c, t: t.send(type="resumed")) if old == S.PAUSED else start
    return CAUSE[new]


LEGAL = sorted(((a, b) for a, targets in TRANSITIONS.items() for b in targets), key=str)


def controller(qtbot):
    thread = FakeRunThread()
    c = RunController(runner=thread)
    seen = []
    c.state_changed.connect(lambda new, old: seen.append((old, new)))
    return c, thread, seen


@pytest.mark.parametrize("old,new", LEGAL, ids=[f"{a.value}->{b.value}" for a, b in LEGAL])
def test_every_transition_of_the_table_happens_from_its_own_input(qtbot, old, new):
    c, thread, seen = controller(qtbot)
    for step in REACH[old]:
        step(c, thread)
    assert c.state == old
    seen.clear()
    cause(old, new)(c, thread)
    assert c.state == new and seen == [(old, new)]


def test_the_table_covers_every_state_and_only_a_run_pauses_stops_or_ends():
    assert set(TRANSITIONS) == set(RunState)
    assert all(S.RUNNING in TRANSITIONS[s] for s in set(RunState) - ACTIVE)
    assert not any(s in TRANSITIONS[a] for a in set(RunState) - ACTIVE for s in {S.PAUSED, S.STOPPING} | ENDED)


@pytest.mark.parametrize("old,new", [(S.IDLE, S.PAUSED), (S.READY, S.FINISHED), (S.RUNNING, S.READY),
                                     (S.STOPPING, S.RUNNING), (S.PAUSED, S.IDLE), (S.FINISHED, S.PAUSED),
                                     (S.LOADING_DATA, S.STOPPED), (S.STOPPED, S.STOPPING)])
def test_an_illegal_transition_is_refused_and_logged(qtbot, caplog, old, new):
    c, thread, seen = controller(qtbot)
    for step in REACH[old]:
        step(c, thread)
    seen.clear()
    with caplog.at_level(logging.WARNING, logger="layerloom.app.training.controller"):
        assert not c.move_to(new, "test")
    assert c.state == old and seen == []
    assert f"{old.value} -> {new.value} refused" in caplog.text


def test_inputs_that_make_no_sense_in_a_state_change_nothing(qtbot):
    c, thread, seen = controller(qtbot)
    c.pause(); c.resume(); c.stop(); c.set_lr(0.1)              # nothing runs: nothing to ask the thread
    assert c.state == S.IDLE and thread.calls == [] and seen == []
    assert c.start(None, {}, "runs") and c.state == S.RUNNING      # idle may start: a resumed run loads its data
    c.stop()
    assert c.state == S.STOPPING and thread.calls == ["start", "stop"]
    thread.send(type="paused")                                   # a late pause: stopping stays stopping
    thread.send(type="resumed")
    c.pause(); c.set_lr(0.5)
    assert c.state == S.STOPPING and thread.calls == ["start", "stop"]
    assert not c.start(None, {}, "runs") and thread.calls == ["start", "stop"]     # one run at a time
    c.set_readiness(loading=False, ready=True)                   # the check says nothing during a run
    assert c.state == S.STOPPING
    thread.end(**STOPPED)
    assert c.state == S.STOPPED
    c.set_readiness(loading=False, ready=True)                   # the result stays on show while ready
    assert c.state == S.STOPPED and c.can_start()


def test_a_thread_that_ends_without_its_last_event_is_a_failure_unless_it_was_stopping(qtbot):
    c, thread, _ = controller(qtbot)
    c.set_readiness(loading=False, ready=True)
    start(c, thread)
    thread.end()
    assert c.state == S.FAILED and c.message
    start(c, thread)
    c.stop()
    thread.end()
    assert c.state == S.STOPPED


def test_a_run_that_ends_while_paused_passes_through_stopping(qtbot):
    c, thread, seen = controller(qtbot)
    for step in REACH[S.PAUSED]:
        step(c, thread)
    seen.clear()
    thread.end(**STOPPED)          # e.g. the window closed: the trainer stopped from its pause
    assert seen == [(S.PAUSED, S.STOPPING), (S.STOPPING, S.STOPPED)]


def test_a_start_waiting_for_its_data_is_cancelled_by_stop_or_a_failed_load(qtbot):
    c, thread, _ = controller(qtbot)
    pending = []
    c.pending_changed.connect(pending.append)
    c.request_start()
    assert not c.start_pending                        # only while the data set loads
    c.set_readiness(loading=True, ready=False)
    c.request_start()
    c.stop()
    assert pending == [True, False] and c.state == S.LOADING_DATA and thread.calls == []
    c.request_start()
    c.set_readiness(loading=False, ready=False)       # the load failed
    assert pending == [True, False, True, False] and c.state == S.IDLE
    c.set_readiness(loading=True, ready=False)
    c.request_start()
    c.forget()                                        # another graph opened: the start was for the last one
    assert pending == [True, False, True, False, True, False] and thread.calls == []
