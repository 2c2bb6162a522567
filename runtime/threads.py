"""How many intra-op threads torch uses for training: chosen by measuring, like cuDNN's benchmark mode.

On a quiet 2-core machine two threads train LeNet-5 1.46x and AlexNet 1.55x faster than one, but
when another process competes for the cores two threads fall to 0.35x of one (OpenMP's workers
spin and wait for each other). No fixed choice is right, so `ThreadTuner` measures: it times a few
training steps at each sensible thread count at the start of a run (the steps are real training
steps, nothing is wasted), keeps the fastest, and re-measures when the step time grows well past
what it measured (a competing process started) and now and then (it may have ended): every
`recheck_s` seconds, or less often where a trial is costly, so re-checking costs under ~2 %.

The choice is made from the training thread itself (OpenMP's thread count is per thread), sent as
a `threads` event and written to the run folder's `threads.json`.

Only the training thread uses more than one intra-op thread (`use_threads`). Every OpenMP team in
the process counts against the cores: once libgomp manages more threads than there are cores, its
workers sleep at once between parallel regions instead of spinning a moment, and a training step of
many small ops waits for them to wake. A team another thread made earlier (the window, a background
job) and left idle cost LeNet-5 steps 1.25-2x on 2 cores (bench/thread_teams.py). So the count a
thread takes on its first torch op (torch's process-wide default) is kept at one thread
(`OTHER_THREADS`) once a run has set its own, and the app starts with OMP_NUM_THREADS=1
(app/launch.py) so that MKL calls, which no torch setting reaches before a thread's first parallel
op, start no team either.

A `threads` setting above 0 in the training config, or the environment variable LAYERLOOM_THREADS,
fixes the count and turns measuring off (needed for bit-for-bit repeatable runs: sums split over
another number of threads differ in the last bits; the test suite sets it).
"""
from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections import deque

import torch


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_threads() -> int:
    """The count a run starts with before measuring (and the choice when measuring is off)."""
    cores = available_cores()
    if cores <= 2:
        return 1
    return min(8, cores - 1)


def candidate_counts(cores: int | None = None, cap: int = 8) -> list[int]:
    """Sensible thread counts to try: 1, powers of two, and all the cores (up to `cap`)."""
    cores = max(1, cores or available_cores())
    top = min(cores, cap)
    counts = {1, top}
    n = 2
    while n < top:
        counts.add(n)
        n *= 2
    return sorted(counts)


def _from_environment() -> int:
    try:
        return max(0, int(os.environ.get("LAYERLOOM_THREADS", "0")))
    except ValueError:
        return 0


def measuring(requested: int = 0) -> bool:
    """Whether a run with this `threads` setting chooses its count by measuring."""
    return requested <= 0 and _from_environment() == 0


def source(requested: int = 0, device_type: str = "cpu") -> str:
    """Where a run's thread count comes from: "settings" (its `threads` setting), "environment"
    (LAYERLOOM_THREADS), "measuring" (ThreadTuner, on the CPU) or "default" (another device trains)."""
    if requested > 0:
        return "settings"
    if _from_environment():
        return "environment"
    return "measuring" if device_type == "cpu" else "default"


def choice_text(threads: int | None, source_name: str, choice: dict | None = None, ended: bool = False) -> str:
    """The thread count in words: "Threads: 2 (chosen by measuring: 1 thread 5.2 ms, 2 threads 3.1 ms a
    step)"; `choice` is the latest `threads` event of a measuring run (None until the first trial ends);
    `ended`: the run is over (one that ended before its first choice trained at its first count)."""
    if threads is None:
        return ""
    if choice is None and ended and source_name == "measuring":
        return f"Threads: {threads} (the run ended before measuring had chosen a count)"
    if choice is not None:
        timings = ", ".join(f"{n} thread{'s' if n != '1' else ''} {ms:.1f} ms" for n, ms in
                            sorted(choice.get("timings_ms", {}).items(), key=lambda kv: int(kv[0])))
        why = {"slower": ", again after steps slowed down", "recheck": ", re-checked"}.get(choice.get("reason"), "")
        return f"Threads: {choice['threads']} (chosen by measuring{why}: {timings} a step)"
    how = {"settings": "set in the training settings", "environment": "set by LAYERLOOM_THREADS",
           "measuring": "measuring which count trains fastest…",
           "default": "not measured: the CPU does not run the training steps"}.get(source_name, source_name)
    return f"Threads: {threads} ({how})"


# A choice is timed again when most steps of a while (`window`, `span_s`) take longer than the next best
# count did in the trial (by this much): a trial a transient misled (a short run's one round) corrects itself.
RUNNER_UP = 1.1
KEEP = 1.3            # a count more than this much slower than the best after a round is not timed again
# A step this long is timed alone: a visit is one step and a switch loses none to warm-up. Three steps a
# visit and a step lost at each switch filter the noise of steps of a few milliseconds, but AlexNet at
# 3×64×64 takes 0.5-1 s a step on 2 cores: a 16-step run then spent 14 steps in its one round, half of
# them at the slower count, and chose at its end.
LONG_STEP_S = 0.05
OTHER_THREADS = 1     # intra-op threads of every thread that sets no count of its own (the window's)


def use_threads(n: int) -> None:
    """The calling thread's torch ops use `n` intra-op threads; threads that run their first torch op later
    use OTHER_THREADS (see the module's docstring for why)."""
    torch.get_num_threads()     # this thread takes its count now, so the default set below is not applied to it later
    torch.set_num_threads(n)    # this thread's OpenMP count, and torch's process-wide default
    _set_default_threads(OTHER_THREADS)


def _set_default_threads(n: int) -> None:
    """Set the count a thread takes on its first torch op, changing no running thread's own count: the
    setting is made from a short-lived thread of its own, which runs no op and so starts no workers."""
    setter = threading.Thread(target=torch.set_num_threads, args=(n,), name="layerloom-thread-default", daemon=True)
    setter.start()
    setter.join()


def configure(requested: int = 0) -> int:
    """Set torch's intra-op threads for the calling thread's work; returns the number used."""
    n = requested if requested > 0 else (_from_environment() or default_threads())
    use_threads(n)
    return n


class ThreadTuner:
    """A trainer extension that picks the intra-op thread count by timing training steps.

    `clock` and `set_threads` are injectable so the choice can be tested under a simulated load.
    A trial runs rounds; a round visits every count twice, in the order A B … B A (the first step after
    a change is a warm-up and is not counted), timing `steps` steps per visit (steps of LONG_STEP_S or
    more are timed alone: one a visit, none lost to warm-up); a count's time is the
    median of its visits' medians (after one round, the faster of its two visits: a burst over one visit
    must not decide). The A B … B A order gives every count the same mean position in time,
    so a drift in load weighs on every count alike instead of deciding for the count timed last.
    Steps of a few milliseconds vary by a quarter from one to the next on a shared machine, and in the
    app the window's redraws slow a few steps now and then: a single round of two steps a visit chose
    one thread over two for LeNet-5 in several first runs measured here (runs a third slower), and a
    burst that covers a round's middle visits (B B) blames the count timed there. So:
      - the first trial waits for `warmup_s` of training at the run's own count (the one it would take
        without measuring): a run's first steps are its slowest and least steady (memory, first calls,
        the window drawing the run's start);
      - a trial runs at least `min_rounds` rounds and goes on, up to `rounds`, while the two best counts
        are closer than the visits' spread can tell apart (`z` standard errors of the difference of
        their mean logs); the median over visits leaves out a visit a burst fell on; counts far behind
        after a round (`KEEP`) are not timed again;
      - but it stays within `share` of the run's steps (a short run gets one round);
      - "slower" means slower for most of `window` steps and of `span_s` seconds, not a burst: slower
        than `slowdown` times the choice's time (every count is timed again), or than `RUNNER_UP` times
        the next best count's (the last round's counts are; when the choice stands, that reason waits
        twice as long before it is heeded again);
      - trials and re-checks are timed in training time: a pause (`resumed`), validation and checkpoints
        are not in it;
      - with one core there is nothing to choose and nothing is timed.
    tests/runtime/test_threads.py simulates these cases.
    """

    WARMUP_S = 0.25      # seconds of training before the first trial (see observe)

    def __init__(self, counts=None, steps: int = 3, slowdown: float = 1.5, window: int = 8,
                 recheck_s: float = 30.0, clock=time.perf_counter, set_threads=use_threads,
                 rounds: int = 4, min_rounds: int = 2, z: float = 2.0, share: float = 0.15,
                 warmup_s: float | None = None, span_s: float = 0.5):
        self.counts = list(counts or candidate_counts())
        self.steps = steps
        self.slowdown = slowdown
        self.window = window
        self.recheck_s = recheck_s
        self.clock = clock
        self.set_threads = set_threads
        self.rounds, self.min_rounds, self.z, self.share = rounds, min_rounds, z, share
        self.warmup_s = self.WARMUP_S if warmup_s is None else warmup_s
        self.span_s = span_s
        self.chosen: int | None = None
        self.baseline: float | None = None     # step seconds measured for the choice
        self.runner_up: float | None = None    # ... and for the next best count
        self.history: list[dict] = []          # every choice: threads, reason, step, timings_ms
        self._order: list[int] = []            # a round's first half (A B …)
        self._trial: list[int] = []            # counts still to time in the current round
        self._times: dict[int, list[float]] = {}   # count -> the median step time of each visit
        self._visit: list[float] = []
        self._alone = False                    # this trial's steps are long: timed one a visit, no warm-up
        self._latest: deque[float] = deque(maxlen=5)   # the latest steps' times, whatever their count
        self._forget_recent()
        self._warming: float | None = None     # seconds trained before the first trial, while it waits
        self._trained = 0.0                    # seconds of timed training steps so far
        self._behind_wait = span_s             # after a trial that steps lagging the runner-up started in vain,
        self._behind_after = 0.0               # ... that reason is not heeded for this long (doubling) of training
        self._kept: list[int] = list(self.counts)   # the counts of the last trial's last round
        self._current = self.counts[0]
        self._skip = 1
        self._last = None
        self._chosen_at = 0.0
        self._trial_started = 0.0
        self._behind_trial = False
        self._trial_steps = 0
        self._interval = recheck_s
        self._reason = "start"

    # -- trainer hooks --------------------------------------------------------------------------
    def setup(self, trainer) -> None:
        if len(self.counts) > 1:
            # The warm-up trains at the count the run would take without measuring (the largest candidate
            # up to it), and the run's `started` event says so.
            default = getattr(trainer, "threads", None) or default_threads()
            self._current = max([c for c in self.counts if c <= default] or self.counts[:1])
            self._apply(self._current)
            self._warming = 0.0      # the first trial waits for `warmup_s` of training (see observe)
        else:
            self._current = self.chosen = self.counts[0]
            self._apply(self._current)
        if trainer is not None:
            trainer.threads = self._current

    def epoch_end(self, trainer, row) -> None:
        self._last = None            # validation and checkpoints are not a training step

    def resumed(self, trainer) -> None:
        self._last = None            # a pause is no training step

    def after_step(self, trainer, loss_value=None) -> None:
        now = self.clock()
        last, self._last = self._last, now
        if last is None:
            return
        self.observe(now - last, trainer)

    def finish(self, trainer, summary) -> None:
        if self.history and isinstance(summary, dict):
            summary["threads"] = self.chosen
            summary["thread_choices"] = len(self.history)
            _write(trainer, "summary.json", summary)

    # -- the measuring ---------------------------------------------------------------------------
    def observe(self, seconds: float, trainer=None) -> None:
        """One training step took `seconds` at the current thread count."""
        if len(self.counts) < 2:
            return                   # one core: nothing to choose
        self._trained += seconds     # trials and re-checks are timed in training time: no pause, no validation
        self._trial_steps += 1
        self._latest.append(seconds)
        if self._warming is not None:
            # A run's first steps are its slowest and least steady (memory, first calls, the window drawing
            # the run's start: in the app, LeNet-5's first 30 steps): they train at the first count untimed,
            # for `warmup_s` or a tenth of a short run, so that it still gets its trial.
            self._warming += seconds
            total = getattr(trainer, "run_steps", None)
            if self._warming >= self.warmup_s or (total and self._trial_steps >= 0.1 * total):
                self._warming, self._skip = None, 0
                self._start_trial("start")
            return
        if self._skip:
            self._skip -= 1
            return
        if self._trial:
            self._visit.append(seconds)
            if len(self._visit) >= (1 if self._alone else self.steps):
                self._times.setdefault(self._current, []).append(statistics.median(self._visit))
                self._visit = []
                self._trial.pop(0)
                if not self._trial and not self._settled(trainer):
                    self._next_round()
                if self._trial:
                    self._switch(self._trial[0])
                else:
                    self._decide(trainer)
            return
        # Slower means most of the last `window` steps, and of the last `span_s` seconds of steps, took
        # `slowdown` times the chosen count's time: a competing process lasts, while the window's redraws (a
        # second apart) and an epoch's first steps slow a few steps only. Kept as counts, not re-sorted.
        slower = self.slowdown * (self.baseline or math.inf)
        behind = RUNNER_UP * (self.runner_up or math.inf)
        self._recent.append(seconds)
        self._recent_sum += seconds
        self._recent_slow += seconds > slower
        self._recent_behind += seconds > behind
        while len(self._recent) > self.window and self._recent_sum - self._recent[0] >= self.span_s:
            gone = self._recent.popleft()
            self._recent_sum -= gone
            self._recent_slow -= gone > slower
            self._recent_behind -= gone > behind
        enough = len(self._recent) >= self.window
        if enough and self._recent_sum >= self.span_s and 2 * self._recent_slow > len(self._recent):
            self._start_trial("slower")
        elif enough and self._recent_sum >= self.span_s and 2 * self._recent_behind > len(self._recent) \
                and self._trained >= self._behind_after:
            self._start_trial("slower", self._kept)       # the close counts only: the others were far behind
        elif self.recheck_s and self._trained - self._chosen_at >= self._interval:
            self._start_trial("recheck")

    def _start_trial(self, reason: str, counts=None) -> None:
        self._reason = reason
        self._behind_trial = counts is not None
        self._trial_started = self._trained
        self._times = {}
        self._visit = []
        # by the middle of the latest steps: one slow step (the window drawing a run's start, a health sample)
        # must not make a trial of short steps time them one a visit
        self._alone = bool(self._latest) and statistics.median(self._latest) >= LONG_STEP_S
        self._forget_recent()
        # the current count first (no switch, no warm-up lost), then the others, then back (A B … B A)
        counts = [c for c in (counts or self.counts) if c in self.counts]
        first = self._current if self._current in counts else counts[0]
        order = [first] + [c for c in counts if c != first]
        self._order = order
        self._trial = order + order[::-1]
        self._trial_steps = 0
        self._switch(first)

    def _forget_recent(self) -> None:
        self._recent: deque[float] = deque()   # the latest steps at the chosen count: `window` and `span_s`
        self._recent_sum = 0.0
        self._recent_slow = 0                    # how many of them took `slowdown` times the chosen count's
        self._recent_behind = 0                  # ... and RUNNER_UP times the next best count's

    def _switch(self, n: int) -> None:
        if n != self._current and not self._alone:
            self._skip = 1          # the first step at a new count warms it up (the run's first: __init__)
        self._current = n
        self._apply(n)

    def _apply(self, n: int) -> None:
        self.set_threads(n)

    def _settled(self, trainer) -> bool:
        """Whether the rounds so far tell the best count apart (or the trial may not go on)."""
        rounds = min(len(self._times[n]) for n in self._order) // 2
        total = getattr(trainer, "run_steps", None)
        if len(self._order) < 2 or rounds >= self.rounds:
            return True
        if total and self._trial_steps * (rounds + 1) / rounds > self.share * total:
            return True           # one more round would take the trial past its share of the run
        if rounds < self.min_rounds:
            return False
        logs = {n: [math.log(max(t, 1e-9)) for t in self._times[n]] for n in self._order}
        means = sorted(statistics.fmean(v) for v in logs.values())
        spread = statistics.fmean(statistics.variance(v) for v in logs.values()) ** 0.5
        return means[1] - means[0] > self.z * spread / rounds ** 0.5

    def _next_round(self) -> None:
        """Another round, of the counts still in the running: within `KEEP` of the best so far (always two)."""
        times = self._estimates()
        ranked = sorted(self._order, key=lambda n: times[n])
        kept = set(ranked[:2]) | {n for n in ranked if times[n] <= KEEP * times[ranked[0]]}
        self._order = [n for n in self._order if n in kept]
        self._trial = self._order + self._order[::-1]

    def _estimates(self) -> dict[int, float]:
        """Each count's step time: the middle of its visits, or the faster of two (one round: a burst over
        one visit must not decide)."""
        return {n: statistics.median(v) if len(v) > 2 else min(v) for n, v in self._times.items()}

    def _decide(self, trainer) -> None:
        medians = self._estimates()
        best = min(medians, key=lambda n: (medians[n], n))
        previous = self.chosen
        if self._behind_trial:      # timed again because steps lagged the runner-up: a false alarm waits longer
            self._behind_wait = self.span_s if best != previous else min(64 * self.span_s, 2 * self._behind_wait)
            self._behind_after = self._trained + (self._behind_wait if best == previous else 0.0)
        self.chosen, self.baseline = best, medians[best]
        self.runner_up = min((t for n, t in medians.items() if n != best), default=None)
        self._kept = list(self._order)
        self._switch(best)
        self._chosen_at = self._trained
        # a trial runs some steps at worse counts: re-check rarely enough that this costs under ~2 %
        self._interval = max(self.recheck_s, 50 * (self._chosen_at - self._trial_started))
        self._last = None
        record = {"threads": best, "reason": self._reason, "step": getattr(trainer, "step", None),
                  "timings_ms": {str(n): round(m * 1000, 3) for n, m in sorted(medians.items())}}
        self.history.append(record)
        if trainer is not None:
            trainer.threads = best
            if previous != best or self._reason == "start":
                trainer.emit({"type": "threads", **record, "previous": previous})
            _write(trainer, "threads.json", {"choices": self.history})


def _write(trainer, name: str, data: dict) -> None:
    run_dir = getattr(trainer, "run_dir", None)
    if run_dir is None:
        return
    from .runs import write_json
    try:
        write_json(run_dir / name, data)
    except OSError:
        pass
