"""The coordinator: the one place that asks and tells the Optuna study.

    runner = SweepRunner(study, doc, spec, folder, workers=2)
    results = runner.run()        # blocks; pause() / resume() / stop() are safe from another thread

It first loads the data set once (trial.data_problem): one that cannot be read refuses the sweep before any
trial. It keeps up to `workers` trial processes going. For each it asks the study for values, checks the
graph with them by analysis (a graph that would break is recorded as a failed trial with the
diagnostic), starts `layerloom train --events-json`, reports each epoch's objective to the study,
and stops a trial the pruner gives up on with SIGINT (the trial saves a clean checkpoint and exits
during its next epoch). A trial that crashes is failed with the last lines of its stderr.
`results.json` is rewritten (atomically) after every change.
"""
from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from optuna.trial import TrialState

from layerloom.graph.fileformat import save_graph

from ..tensorboard_log import write_hparams
from ..threads import available_cores
from . import forked
from .results import write_results
from .spec import SweepError, SweepSpec
from .study import check_folder, owner_tag, recover_interrupted, trials_counted
from .trial import TrialProcess, apply_values, check_trial, data_problem, refused_for_data


def threads_per_trial(workers: int) -> int:
    """Torch threads for each trial so that workers x threads <= cores."""
    return max(1, available_cores() // max(1, workers))


def workers_warning(workers: int, setting: str = "--workers") -> str | None:
    """A sentence when more trials would run at once than this machine has cores (None otherwise): they take
    turns on the cores, so the sweep is no faster, and each trial process holds its own PyTorch and data set in
    memory. `setting` is what the person sets the count with. (A sweep of fewer trials than its workers runs no
    more than its trials at once: give the smaller of the two.)"""
    cores = available_cores()
    if workers <= cores:
        return None
    return (f"{workers} trials at once on {cores} core{'s' if cores != 1 else ''}: they take turns on the cores, "
            f"so the sweep is no faster than with {cores} at once, and each trial process holds its own PyTorch and "
            f"data set in memory; set {setting} to {cores} or fewer")


def trial_threads(workers: int, fixed: int | None = None) -> tuple[int, bool]:
    """(threads, measure) for each trial. A trial that has every core to itself (one worker) chooses
    its count by measuring, as any run does: a fixed count of all the cores collapses as soon as
    another process competes for them. With several workers each trial gets its fixed share."""
    if fixed:
        return fixed, False
    threads = threads_per_trial(workers)
    return threads, threads > 1 and threads >= available_cores()


@dataclass
class _Running:
    trial: object
    proc: TrialProcess
    started: float
    summary: dict | None = None
    message: str | None = None
    best: tuple | None = None          # (value, epoch)
    history: list = field(default_factory=list)
    epochs: int | None = None          # the trial's planned epochs (its `started` event)


class SweepRunner:
    def __init__(self, study, doc, spec: SweepSpec, folder, *, workers: int | None = None, runs_dir=None,
                 callback=None, threads: int | None = None, data_checked: bool = False):
        self.study, self.doc, self.spec = study, doc, spec
        self.folder = Path(folder)
        self.runs_dir = Path(runs_dir) if runs_dir else self.folder / "runs"
        self.workers = workers or spec.workers
        self.threads, self.measure_threads = trial_threads(self.workers, threads)
        self.callback = callback or (lambda event: None)
        self.events: queue.Queue = queue.Queue()
        self.running: dict[int, _Running] = {}
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._paused = threading.Event()
        self.recovered: list[int] = []
        self.data_checked = data_checked        # the caller has run data_problem already

    # -- control (any thread) --------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        """Stop now (a second Ctrl-C): running trials are ended at once, recorded as interrupted and queued
        again, so the study stays consistent and the sweep resumes with their values."""
        self._abort.set()
        self._stop.set()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    # -- the loop --------------------------------------------------------------------------------
    def budget_left(self) -> int:
        waiting = len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        return self.spec.budget() - (trials_counted(self.study) - waiting)

    def run(self) -> list[dict]:
        """Run trials until the budget is spent or stop(); the results' rows. A data set that cannot be read
        refuses the sweep before any trial: one `sweep_refused` event, no trial, no run folder, and []. Otherwise
        `sweep_started` comes first: from then on the sweep runs."""
        forked.prepare()                 # the trials' fork server imports PyTorch meanwhile
        problem = None if self.data_checked else data_problem(self.doc)
        if problem:
            self._emit({"type": "sweep_refused", "message": refused_for_data(problem)})
            return []
        # a folder that holds a sweep of this name from another storage: SweepError before any trial
        check_folder(self.folder, self.study._storage, self.spec.name, claim=True)
        self._emit({"type": "sweep_started"})
        (self.folder / "trials").mkdir(parents=True, exist_ok=True)
        self.recovered = recover_interrupted(self.study)
        if self.recovered:
            self._emit({"type": "recovered", "trials": self.recovered})
        self._write()
        paused_procs = False
        try:
            while True:
                if self._stop.is_set():
                    for r in self.running.values():
                        if self._abort.is_set():
                            r.proc.abort()
                        else:
                            r.proc.stop()
                paused = self._paused.is_set() and not self._stop.is_set()
                if paused != paused_procs:
                    for r in self.running.values():
                        r.proc.pause(paused)
                    paused_procs = paused
                    self._emit({"type": "paused" if paused else "resumed"})
                while (not paused and not self._stop.is_set() and len(self.running) < self.workers
                       and self.budget_left() > 0):
                    self._launch()
                if not self.running:
                    if self._stop.is_set() or self.budget_left() <= 0:
                        break
                    time.sleep(0.2)
                    continue
                try:
                    number, event = self.events.get(timeout=0.5)
                except queue.Empty:
                    continue
                self._on_event(number, event)
        finally:
            for r in self.running.values():     # an exception in the loop: leave no trial behind
                r.proc.stop()
        results = self._write()
        self._emit({"type": "sweep_finished", "stopped": self._stop.is_set(), "results": results})
        return results

    def _emit(self, event: dict) -> None:
        try:
            self.callback(event)
        except Exception:
            pass

    def _write(self) -> list[dict]:
        return write_results(self.study, self.folder / "results.json", self.spec)

    def _launch(self) -> None:
        trial = self.study.ask()
        trial.set_user_attr("owner", owner_tag())      # from now on an interrupted trial is recovered as this one's
        try:
            values = {path: dist.suggest(trial, path) for path, dist in self.spec.params.items()}
        except ValueError as exc:      # Optuna: the storage's trials drew this parameter from another range
            message = (f"the sweep's storage holds trials that drew a parameter from other values than this sweep "
                       f"({exc}): start this sweep under another name, or with the ranges it was started with")
            trial.set_user_attr("interrupted", True)     # it used no budget: its values were never trained
            trial.set_user_attr("message", message)
            self.study.tell(trial, state=TrialState.FAIL)
            raise SweepError(message) from None
        earlier = sum(1 for t in self.study.get_trials(deepcopy=False)
                      if t.number < trial.number and not t.user_attrs.get("interrupted")
                      and t.state != TrialState.WAITING)
        if earlier >= self.spec.budget():   # another worker took the last trial of the budget meanwhile
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("surplus", True)
            self.study.tell(trial, state=TrialState.FAIL)
            return
        name = f"{self.spec.name}-trial-{trial.number:04d}"
        trial_doc = apply_values(self.doc, values, name=name)
        problem, costs = check_trial(trial_doc, values)
        trial.set_user_attr("params_count", costs.get("params"))
        trial.set_user_attr("macs", costs.get("macs"))
        if problem:
            trial.set_user_attr("message", problem)
            self.study.tell(trial, state=TrialState.FAIL)
            self._emit({"type": "trial_failed", "trial": trial.number, "message": problem})
            self._write()
            return
        graph_path = self.folder / "trials" / f"{name}.loom.json"
        save_graph(trial_doc, graph_path)
        proc = TrialProcess(trial.number, graph_path, self.runs_dir, self.events, epochs=self.spec.epochs,
                            threads=self.threads, measure_threads=self.measure_threads, seed=self.spec.seed)
        self.running[trial.number] = _Running(trial, proc, time.monotonic())
        self._emit({"type": "trial_started", "trial": trial.number, "params": values})
        self._write()

    def _on_event(self, number: int, event: dict) -> None:
        r = self.running.get(number)
        if r is None:
            return
        kind = event["type"]
        self._emit({**event, "trial": number})
        if kind == "started":
            r.trial.set_user_attr("run", event.get("run_dir"))
            r.epochs = event.get("epochs") if isinstance(event.get("epochs"), int) else None
            self._write()
        elif kind == "epoch_end":
            value = event.get(self.spec.objective)
            epoch = int(event.get("epoch", 0))
            if isinstance(value, (int, float)) and math.isfinite(value):
                r.history.append((epoch, value))
                maximize = self.spec.direction == "maximize"
                better = r.best is None or (value > r.best[0] if maximize else value < r.best[0])
                if better:
                    r.best = (value, epoch)
                    r.trial.set_user_attr("best", {"value": value, "epoch": epoch})
                r.trial.report(value, epoch)
                last = r.epochs is not None and epoch >= r.epochs      # nothing left to save by stopping it
                if not last and r.proc.pruned_at is None and not r.proc.stopping and r.trial.should_prune():
                    r.proc.pruned_at = epoch
                    r.trial.set_user_attr("pruned_at_epoch", epoch)
                    r.proc.stop()
                    self._emit({"type": "trial_pruned", "trial": number, "epoch": epoch})
        elif kind == "finished":
            r.summary = event.get("summary")
        elif kind == "failed":
            r.message = event.get("message")
        elif kind == "_eof":
            self._finish(number, r)

    def _finish(self, number: int, r: _Running) -> None:
        rc = r.proc.wait(timeout=60)
        del self.running[number]
        trial = r.trial
        trial.set_user_attr("seconds", round(time.monotonic() - r.started, 2))
        metric = r.history[-1][1] if r.history else None
        value = (r.summary or {}).get(self.spec.objective)
        # a trial that finished before its fork server ended has no exit status of its own (forked.py)
        ok = ((rc == 0 or r.proc.server_lost) and r.summary is not None and r.summary.get("status") == "finished"
              and isinstance(value, (int, float)) and math.isfinite(value))
        if r.proc.pruned_at is not None and r.history:
            trial.set_user_attr("exit_epoch", (r.summary or {}).get("epochs"))
            self.study.tell(trial, state=TrialState.PRUNED)
            state = "pruned"
        elif ok:                 # finished, even when a stop came after its last epoch
            self.study.tell(trial, value)
            metric, state = value, "complete"
        elif r.proc.stopping or r.proc.server_lost:   # like a cut-off trial, its values run again
            if r.proc.stopping:
                how = ("aborted: the sweep was ended at once while this trial ran (its last complete checkpoint is "
                       "kept)" if r.proc.aborted else
                       "stopped: the sweep was stopped while this trial ran (its checkpoint is kept)")
                how += "; its values are tried again when the sweep resumes"
            else:
                how = ("stopped: the process that starts the trials ended while this trial ran (the system may have "
                       "run out of memory); its values are tried again")
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("message", how)
            self.study.tell(trial, state=TrialState.FAIL)
            self.study.enqueue_trial(dict(trial.params), skip_if_exists=False)
            state = "failed"
        else:
            trial.set_user_attr("message", r.message or r.proc.failure_text())
            self.study.tell(trial, state=TrialState.FAIL)
            state = "failed"
        run = trial.user_attrs.get("run")
        if state != "failed" and run and Path(run).is_dir():
            write_hparams(run, trial.params, {f"hparams/{self.spec.objective}": metric})
        self._emit({"type": "trial_finished", "trial": number, "state": state})
        self._write()
