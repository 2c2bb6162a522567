"""Thread-count selection by measuring, under a simulated competing load (no real timing)."""
import json
import math
import random

import pytest
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
        self.step, self.events, self.run_dir = 0, [], run_dir
        self.threads = 1           # the count a run takes without measuring on 2 cores (on any machine here)

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
    train(tuner, machine, trainer, 24)          # 0.25 s of training at the first count before the first trial
    assert tuner.chosen is None and set(machine.set_calls) == {1}
    train(tuner, machine, trainer, 32)          # two rounds of visits: 1 2 2 1 1 2 2 1
    assert tuner.chosen == 2 and machine.threads == 2 and trainer.threads == 2
    start = trainer.events[0]
    assert start["type"] == "threads" and start["reason"] == "start" and start["threads"] == 2
    assert start["timings_ms"] == {"1": 10.0, "2": 6.85}
    assert choice_text(1, "measuring", start) == \
        "Threads: 2 (chosen by measuring: 1 thread 10.0 ms, 2 threads 6.8 ms a step)"

    machine.loaded = True                       # another process starts competing for the cores
    train(tuner, machine, trainer, 60)
    assert tuner.chosen == 1 and machine.threads == 1
    slower = trainer.events[-1]
    assert slower["reason"] == "slower" and slower["previous"] == 2 and slower["threads"] == 1

    machine.loaded = False                      # it ends: the periodic re-check finds two threads again
    train(tuner, machine, trainer, 4000)
    assert tuner.chosen == 2 and trainer.events[-1]["reason"] == "recheck"
    log = json.loads((tmp_path / "threads.json").read_text())
    assert [c["threads"] for c in log["choices"]][:2] == [2, 1]
    # measuring is cheap: nearly every step ran at the right count for its conditions
    assert len(machine.set_calls) < 40


def test_a_slow_step_now_and_then_does_not_trigger_a_new_trial():
    machine, trainer = SimulatedMachine(), FakeTrainer()
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0)
    tuner.setup(trainer)
    train(tuner, machine, trainer, 60)
    calls = len(machine.set_calls)
    for i in range(100):                        # one step in ten is slow (a feature-map capture)
        machine.now += 0.2 if i % 10 == 0 else 0.0
        train(tuner, machine, trainer, 1)
    assert len(machine.set_calls) == calls and tuner.chosen == 2


def test_a_busy_start_does_not_decide_for_the_count_timed_last():
    """The first steps of a run in the app are slow whatever the count (the window draws its first curves
    and maps): a trial timing one count and then the other would blame the first. Here one thread is
    the faster (the GUI thread keeps a core busy), and the first 0.5 s of steps take 40 ms longer: past
    the warm-up and into the first round, which then cannot tell the counts apart and is followed by
    another."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    speeds = {1: 10.0, 2: 12.0}
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0)
    tuner.setup(trainer)
    while tuner.chosen is None:
        machine.now += (speeds[machine.threads] + (40.0 if machine.now < 0.5 else 0.0)) / 1000
        trainer.step += 1
        tuner.after_step(trainer, 0.0)
    assert tuner.chosen == 1 and machine.threads == 1
    timings = trainer.events[0]["timings_ms"]
    assert timings["1"] < timings["2"] and trainer.step > 30


class NoisyMachine(SimulatedMachine):
    """Steps as they come on a shared machine: each 10 % above or below its count's time (log-normal)
    times a load that drifts from step to step, one in twenty 10 ms late, and the run's first steps
    slower (memory, first calls) by 8 ms, fading; with `burst`, the steps from `burst` seconds to 0.1 s
    after it take 20 ms longer (the window redrawing). Two threads are 26 % faster (LeNet-5 here: 8.7
    and 6.9 ms)."""
    SPEEDS = {1: 8.7, 2: 6.9}

    def __init__(self, seed, burst=None):
        super().__init__()
        self.rng, self.steps, self.load, self.burst = random.Random(seed), 0, 0.0, burst

    def step(self):
        self.load = 0.7 * self.load + self.rng.gauss(0, 0.1)
        ms = self.SPEEDS[self.threads] * math.exp(self.load + self.rng.gauss(0, 0.1)) + 8 * math.exp(-self.steps / 3)
        if self.rng.random() < 0.05:
            ms += 10
        if self.burst is not None and self.burst <= self.now < self.burst + 0.1:
            ms += 20
        self.now += ms / 1000
        self.steps += 1


def choose(seed, run_steps=None, burst=None, **settings) -> tuple[int, int]:
    """The count a run's first trial chooses on a NoisyMachine, and how many of the trial's steps ran at
    two threads (the first count, one thread, also trains the warm-up)."""
    machine, trainer = NoisyMachine(seed, burst), FakeTrainer()
    trainer.run_steps = run_steps
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0,
                        **settings)
    tuner.setup(trainer)
    at_two = 0
    while tuner.chosen is None:
        at_two += machine.threads == 2
        train(tuner, machine, trainer, 1)
    return tuner.chosen, at_two


def test_noisy_steps_and_a_burst_in_the_trial_still_choose_the_faster_count():
    """A single round of visits chooses one thread in 1 run in 8 here, and in 1 in 3 when a burst of slow
    steps falls on its middle visits (two threads' both visits, 50 ms into the trial); rounds until the
    counts stand apart, and the median over visits, choose two threads in all but a few."""
    for burst in (None, 0.30):
        one_round = [choose(seed, burst=burst, rounds=1, min_rounds=1)[0] for seed in range(200)]
        rounds = [choose(seed, burst=burst)[0] for seed in range(200)]
        assert rounds.count(2) >= 0.96 * 200, burst
        assert one_round.count(2) < 0.9 * 200, burst


def test_a_trial_stays_within_its_share_of_a_short_run():
    """Rounds cost steps at the slower counts: a run of 150 steps gets one round (two visits of three
    steps at two threads, after a step of warm-up), a long run two to four."""
    short = [choose(seed, run_steps=150)[1] for seed in range(40)]
    long = [choose(seed, run_steps=100_000)[1] for seed in range(40)]
    assert max(short) == 7
    assert min(long) >= 14 and max(long) > 14


def test_a_short_burst_of_slow_steps_is_not_a_competing_process():
    """The window's redraws and an epoch's first steps slow a few steps at a time: only steps slower for
    half a second start a new trial."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0)
    tuner.setup(trainer)
    train(tuner, machine, trainer, 60)
    assert tuner.chosen == 2
    calls = len(machine.set_calls)
    for _ in range(3):                          # 12 steps three times as slow (0.25 s), then normal ones
        machine.loaded = True
        train(tuner, machine, trainer, 12)
        machine.loaded = False
        train(tuner, machine, trainer, 40)
    assert len(machine.set_calls) == calls and len(trainer.events) == 1
    machine.loaded = True                       # a lasting load
    train(tuner, machine, trainer, 60)
    assert trainer.events[-1]["reason"] == "slower" and tuner.chosen == 1


def test_candidate_counts():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(6) == [1, 2, 4, 6]
    assert candidate_counts(64) == [1, 2, 4, 8]


def test_trainer_measures_by_default_and_a_setting_fixes_the_count(tmp_path, monkeypatch):
    monkeypatch.delenv("LAYERLOOM_THREADS", raising=False)
    monkeypatch.setattr(ThreadTuner, "WARMUP_S", 0.0)        # the small net's steps: measure from the start
    events = []
    before = torch.get_num_threads()
    try:
        rounds_steps = 8 * len(candidate_counts()) + 10        # one round of visits, on any machine
        t = Trainer(small_net(), {"epochs": 1, "batch_size": 32, "max_steps": rounds_steps}, events.append,
                    runs_base=tmp_path / "a", data=mnist_small(n_train=2048, n_val=64))
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


def test_a_short_run_of_fast_steps_still_gets_its_trial():
    """0.25 s of warm-up would be a 60-step run's every step at 2 ms a step: the warm-up is then a tenth of
    the run, and the run ends knowing its count."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    trainer.run_steps = 60
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0)
    tuner.setup(trainer)
    for _ in range(60):
        machine.now += {1: 0.002, 2: 0.0015}[machine.threads]
        trainer.step += 1
        tuner.after_step(trainer, 0.0)
    assert tuner.chosen == 2 and trainer.events[0]["step"] <= 30


def test_a_run_that_ends_before_the_choice_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("LAYERLOOM_THREADS", raising=False)
    events, before = [], torch.get_num_threads()
    try:
        Trainer(small_net(), {"epochs": 1, "batch_size": 32, "max_steps": 3}, events.append, runs_base=tmp_path,
                data=mnist_small(n_train=256, n_val=64)).run()
    finally:
        torch.set_num_threads(before)
    assert events[-1]["type"] == "finished" and not [e for e in events if e["type"] == "threads"]
    count = events[0]["threads"]
    assert replay(events[:1]).threads_text() == f"Threads: {count} (measuring which count trains fastest…)"
    assert replay(events).threads_text() == f"Threads: {count} (the run ended before measuring had chosen a count)"


def test_the_warm_up_trains_at_the_runs_own_count_and_says_so():
    """On 8 cores a run without measuring takes 7 threads: the warm-up trains at 4 (the largest count tried
    up to 7), and the run's `started` event, which follows setup, names that count."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    trainer.threads = 7
    tuner = ThreadTuner(counts=[1, 2, 4, 8], clock=machine.clock, set_threads=machine.set_threads)
    tuner.setup(trainer)
    assert machine.set_calls == [4] and trainer.threads == 4


def test_a_pause_is_neither_a_slow_step_nor_trial_time():
    machine, trainer = SimulatedMachine(), FakeTrainer()
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=30.0)
    tuner.setup(trainer)
    train(tuner, machine, trainer, 40)
    machine.now += 120.0                        # paused for two minutes in the middle of the first trial
    tuner.resumed(trainer)
    train(tuner, machine, trainer, 30)
    assert tuner.chosen == 2 and tuner._interval == 30.0      # re-checked after 30 s of training, not hours
    tuner.epoch_end(trainer, {})                # paused for an hour as an epoch ends (during its validation)
    machine.now += 3600.0
    tuner.resumed(trainer)
    train(tuner, machine, trainer, 20)
    assert len(trainer.events) == 1 and tuner._interval == 30.0 and not tuner._trial
    calls = len(machine.set_calls)
    machine.now += 120.0                        # paused again, then a burst of 7 slow steps
    tuner.resumed(trainer)
    machine.loaded = True
    train(tuner, machine, trainer, 7)
    machine.loaded = False
    train(tuner, machine, trainer, 20)
    assert len(machine.set_calls) == calls and len(trainer.events) == 1


def test_counts_far_behind_after_a_round_are_not_timed_again():
    """Eight cores: one and two threads are far slower than four and eight, which are close: the rounds
    after the first time only those two."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    speeds = {1: 40.0, 2: 21.0, 4: 11.0, 8: 10.6}
    tuner = ThreadTuner(counts=[1, 2, 4, 8], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0,
                        warmup_s=0.0, z=100.0)        # z: the rounds go on to the last
    tuner.setup(trainer)
    rng = random.Random(0)
    while tuner.chosen is None:
        machine.now += speeds[machine.threads] * math.exp(rng.gauss(0, 0.02)) / 1000
        trainer.step += 1
        tuner.after_step(trainer, 0.0)
    first_round = machine.set_calls.index(8) + machine.set_calls[machine.set_calls.index(8):].index(1)
    assert set(machine.set_calls[first_round + 1:]) == {4, 8} and tuner.chosen == 8


def test_one_round_is_not_decided_by_a_burst_over_one_visit():
    """A short run gets one round: a burst over one of two threads' two visits must not make it choose one."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    trainer.run_steps = 150
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0,
                        warmup_s=0.0)
    tuner.setup(trainer)
    visits_at_two = 0
    while tuner.chosen is None:
        first_visit = machine.threads == 2 and visits_at_two < 4
        visits_at_two += machine.threads == 2
        machine.now += (QUIET[machine.threads] + (20.0 if first_visit else 0.0)) / 1000
        trainer.step += 1
        tuner.after_step(trainer, 0.0)
    assert tuner.chosen == 2


def test_a_choice_a_transient_misled_is_timed_again_and_corrected():
    """A short run gets one round; here the steps ran at other speeds while it was timed (one thread 8 ms,
    two 8.5 ms: as in a first run measured here, whose one-thread steps then took 9.6 ms), so it chose one
    thread. Its steps then take longer than two threads' did in the trial, and half a second of them starts
    a trial that finds two."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    trainer.run_steps = 150
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0,
                        warmup_s=0.0)
    tuner.setup(trainer)
    while tuner.chosen is None:
        machine.now += {1: 8.0, 2: 8.5}[machine.threads] / 1000
        trainer.step += 1
        tuner.after_step(trainer, 0.0)
    assert tuner.chosen == 1 and tuner.runner_up == pytest.approx(0.0085)
    train(tuner, machine, trainer, 100)         # now one thread takes 10 ms, two 6.85 ms
    assert tuner.chosen == 2 and trainer.events[-1]["reason"] == "slower"


def test_one_core_has_nothing_to_measure():
    """One usable core: one count, no trial ever (a re-check of one count once ended the run in an error)."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    machine.now = 1e6                           # perf_counter counts from boot
    tuner = ThreadTuner(counts=[1], clock=machine.clock, set_threads=machine.set_threads, recheck_s=5.0)
    tuner.setup(trainer)
    train(tuner, machine, trainer, 3000)
    assert machine.set_calls == [1] and tuner.chosen == 1 and trainer.events == []


def _eight_cores(speeds):
    """A tuner on 8 cores and a function that trains steps on it: `lag` ms more at eight threads, `load` times
    as long at every count."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    trainer.threads = 7
    tuner = ThreadTuner(counts=[1, 2, 4, 8], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0,
                        warmup_s=0.0)
    tuner.setup(trainer)

    def run(steps, lag=0.0, load=1.0):
        for _ in range(steps):
            machine.now += (speeds[machine.threads] + (lag if machine.threads == 8 else 0.0)) * load / 1000
            trainer.step += 1
            tuner.after_step(trainer, 0.0)
    return machine, trainer, tuner, run


def test_steps_lagging_the_runner_up_time_the_close_counts_only():
    """Four and eight threads close, one and two far behind: steps at eight threads that lag four threads'
    trial time start a trial of those two only, which finds four."""
    machine, trainer, tuner, run = _eight_cores({1: 40.0, 2: 21.0, 4: 11.0, 8: 10.0})
    run(200)
    assert tuner.chosen == 8 and sorted(tuner._kept) == [4, 8]
    calls = len(machine.set_calls)
    run(100, lag=3.0)                           # eight threads now take 13 ms: more than 1.1 x 11 ms
    assert set(machine.set_calls[calls:]) == {4, 8} and tuner.chosen == 4
    assert trainer.events[-1]["reason"] == "slower"


def test_a_false_alarm_of_the_runner_up_makes_that_reason_wait_longer():
    """A load makes every count 30 % slower (not the 1.5x of a competing process): eight threads' steps lag
    four threads' trial time, and the trial (of those two only) finds eight threads again. Steps lagging
    the runner-up are then not heeded for twice as long, and the load measured in the trial raised the bar."""
    machine, trainer, tuner, run = _eight_cores({1: 40.0, 2: 21.0, 4: 11.0, 8: 10.0})
    run(200)
    calls = len(machine.set_calls)
    run(2000, load=1.3)
    assert tuner.chosen == 8 and set(machine.set_calls[calls:]) == {4, 8} and len(trainer.events) == 1
    assert tuner._behind_wait == 2 * tuner.span_s and tuner._behind_after == tuner._chosen_at + 2 * tuner.span_s
    assert tuner.runner_up == pytest.approx(11.0 * 1.3 / 1000)


def test_long_steps_are_timed_one_a_visit_so_a_short_run_chooses_early():
    """AlexNet at 3×64×64 on 2 cores: about 1 s a step at one thread, 0.52 s at two. Three steps a visit and
    a warm-up step at each switch took a 16-step run's every step after the first two, half of them at one
    thread: it chose at its last step. Timed one step a visit, it chooses after its sixth."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    trainer.run_steps = 16
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0)
    tuner.setup(trainer)
    at = []
    for _ in range(16):
        at.append(machine.threads)
        machine.now += {1: 1.0, 2: 0.52}[machine.threads]
        trainer.step += 1
        tuner.after_step(trainer, 0.0)
    assert tuner.chosen == 2 and trainer.events[0]["step"] == 6
    # the first step (untimed: nothing marks its start), the warm-up, one round (1 2 2 1), then the choice
    assert at == [1, 1] + [1, 2, 2, 1] + [2] * 10
    assert trainer.events[0]["timings_ms"] == {"1": 1000.0, "2": 520.0}


def test_one_slow_step_at_the_end_of_the_warm_up_does_not_make_short_steps_timed_alone():
    """The warm-up's last step can be slow for reasons of its own (the window drawing the run's start, a
    health sample): steps of 10 ms are still timed three a visit."""
    machine, trainer = SimulatedMachine(), FakeTrainer()
    tuner = ThreadTuner(counts=[1, 2], clock=machine.clock, set_threads=machine.set_threads, recheck_s=0)
    tuner.setup(trainer)
    steps = 0
    while tuner._warming is not None:
        machine.now += 0.06 if tuner._warming + 0.06 >= tuner.warmup_s else 0.010
        steps += 1
        trainer.step += 1
        tuner.after_step(trainer, 0.0)
    assert steps > 5 and not tuner._alone
    train(tuner, machine, trainer, 40)
    assert tuner.chosen == 2 and trainer.events[0]["timings_ms"] == {"1": 10.0, "2": 6.85}
