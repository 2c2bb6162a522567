"""Thread-count selection by measuring, under a simulated competing load (no real timing)."""
import json

import torch

from layerloom.runtime.live import LiveRun
from layerloom.runtime.threads import ThreadTuner, candidate_counts, choice_text
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import mnist_small, small_net

# Step times in ms on a 2-core machine, shaped like the measured ones: two threads 1.46x faster
# when quiet, 0.35x of one thread when another process competes.
QUIET = {1: 10.0, 2: 6.85}
LOADED = {1: 11.0, 2: 31.4}


class SimulatedMachine:
    def __init__(self):
        self.now = 0.0
        self.threads = 1
        self.loaded = False
        self.set_calls = []

    def clock(self):
        return self.now

    def set_threads(self, n):
        self.threads = n
        self.set_calls.append(n)

    def step(self):
        self.now += (LOADED if self.loaded else QUIET)[self.threads] / 1000


class FakeTrainer:
    def __init__(self, run_dir=None):
        self.step, self.events, self.run_dir, self.threads = 0, [], run_dir, None

    def emit(self, event):
        self.events.append(event)


def replay(events) -> LiveRun:
    """What the Training panel shows after these events."""
    live = LiveRun()
    for e in events:
        live.apply(e)
    return live


def train(tuner, machine, trainer, steps):
    for _ in range(steps):
        machine.step()
        trainer.step += 1
        tuner.after_step(trainer, 0.0)


def test_picks_the_fastest_count_and_follows_a_competing_load(tmp_path):
    machine, trainer = SimulatedMachine(), FakeTrainer(tmp_path)
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=5.0)
    tuner.setup(trainer)
    train(tuner, machine, trainer, 12)
    assert tuner.chosen == 2 and machine.threads == 2 and trainer.threads == 2
    start = trainer.events[0]
    assert start["type"] == "threads" and start["reason"] == "start" and start["threads"] == 2
    assert start["timings_ms"] == {"1": 10.0, "2": 6.85}
    assert choice_text(1, "measuring", start) == \
        "Threads: 2 (chosen by measuring: 1 thread 10.0 ms, 2 threads 6.8 ms a step)"

    machine.loaded = True                       # another process starts competing for the cores
    train(tuner, machine, trainer, 30)
    assert tuner.chosen == 1 and machine.threads == 1
    slower = trainer.events[-1]
    assert slower["reason"] == "slower" and slower["previous"] == 2 and slower["threads"] == 1

    machine.loaded = False                      # it ends: the periodic re-check finds two threads again
    train(tuner, machine, trainer, 1500)
    assert tuner.chosen == 2 and trainer.events[-1]["reason"] == "recheck"
    log = json.loads((tmp_path / "threads.json").read_text())
    assert [c["threads"] for c in log["choices"]][:2] == [2, 1]
    # measuring is cheap: nearly every step ran at the right count for its conditions
    assert len(machine.set_calls) < 40


def test_a_slow_step_now_and_then_does_not_trigger_a_new_trial():
    machine, trainer = SimulatedMachine(), FakeTrainer()
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0)
    tuner.setup(trainer)
    train(tuner, machine, trainer, 12)
    calls = len(machine.set_calls)
    for i in range(100):                        # one step in ten is slow (a feature-map capture)
        machine.now += 0.2 if i % 10 == 0 else 0.0
        train(tuner, machine, trainer, 1)
    assert len(machine.set_calls) == calls and tuner.chosen == 2


def test_a_busy_start_does_not_decide_for_the_count_timed_last():
    """The first steps of a run in the app are slow whatever the count (the window draws its first curves
    and maps): a trial timing one count and then the other would blame the first. Here one thread is
    the faster (the GUI thread keeps a core busy), and the first 6 steps take 40 ms longer."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    speeds = {1: 10.0, 2: 12.0}
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0)
    tuner.setup(trainer)
    for i in range(12):
        machine.now += (speeds[machine.threads] + (40.0 if i < 6 else 0.0)) / 1000
        trainer.step += 1
        tuner.after_step(trainer, 0.0)
    assert tuner.chosen == 1 and machine.threads == 1
    assert trainer.events[0]["timings_ms"] == {"1": 10.0, "2": 12.0}


def test_candidate_counts():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(6) == [1, 2, 4, 6]
    assert candidate_counts(64) == [1, 2, 4, 8]


def test_trainer_measures_by_default_and_a_setting_fixes_the_count(tmp_path, monkeypatch):
    monkeypatch.delenv("LAYERLOOM_THREADS", raising=False)
    events = []
    before = torch.get_num_threads()
    try:
        t = Trainer(small_net(), {"epochs": 1, "batch_size": 32, "max_steps": 14}, events.append,
                    runs_base=tmp_path / "a", data=mnist_small(n_train=512, n_val=64))
        assert t.run()["status"] == "finished"
        chosen = [e for e in events if e["type"] == "threads"]
        assert chosen and chosen[0]["threads"] in candidate_counts()
        assert set(chosen[0]["timings_ms"]) == {str(n) for n in candidate_counts()}
        log = json.loads((t.run_dir / "threads.json").read_text())
        assert log["choices"][0]["threads"] == chosen[0]["threads"]
        assert json.loads((t.run_dir / "summary.json").read_text())["threads"] == t.threads
        live = replay(events)
        assert events[0]["threads_source"] == "measuring"
        assert live.threads_text().startswith(f"Threads: {chosen[-1]['threads']} (chosen by measuring")
        for n, ms in chosen[-1]["timings_ms"].items():
            assert f"{n} thread{'s' if n != '1' else ''} {ms:.1f} ms" in live.threads_text()

        events.clear()
        t = Trainer(small_net(), {"epochs": 1, "batch_size": 32, "max_steps": 14, "threads": 1}, events.append,
                    runs_base=tmp_path / "b", data=mnist_small(n_train=512, n_val=64))
        t.run()
        assert not [e for e in events if e["type"] == "threads"]
        assert events[0]["threads"] == 1 and not (t.run_dir / "threads.json").exists()
        assert replay(events).threads_text() == "Threads: 1 (set in the training settings)"

        events.clear()
        monkeypatch.setenv("LAYERLOOM_THREADS", "2")
        t = Trainer(small_net(), {"epochs": 1, "batch_size": 32, "max_steps": 4}, events.append,
                    runs_base=tmp_path / "c", data=mnist_small(n_train=512, n_val=64))
        t.run()
        assert not [e for e in events if e["type"] == "threads"] and events[0]["threads"] == 2
        assert replay(events).threads_text() == "Threads: 2 (set by LAYERLOOM_THREADS)"
    finally:
        torch.set_num_threads(before)


def test_the_tuner_sets_counts_for_its_own_thread_only():
    from layerloom.runtime.threads import use_threads
    assert ThreadTuner(counts=[1, 2]).set_threads is use_threads
