"""One trial: the graph with the trial's values, its check by analysis, and its `layerloom train` process.

A trial runs as its own process (`layerloom train TRIAL.loom.json --events-json ...`), so a crash,
a hang or a leak in one trial never touches the coordinator or the other trials. The process is forked
from an interpreter that imported PyTorch once (forked.py). It writes one JSON event a line on stdout;
two reader threads turn stdout into events on a queue and keep the last lines of stderr for the
failure message.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import threading
from pathlib import Path

from layerloom.graph import analyze

from ..config import ConfigError, TrainConfig
from ..data import DataError
from ..data.registry import dataset_info, load_dataset
from ..path_problems import os_error_text
from . import forked
from .spec import SweepError

STDERR_LINES = 12
TRAIN = ["-m", "layerloom.app.main", "train"]     # what a trial runs, after the Python interpreter


def apply_values(doc, values: dict, name: str | None = None):
    """A copy of `doc` with each `path: value` written into its training section or block parameters."""
    trial = doc.copy()
    trial.sweep = {}
    if name:
        trial.name = name
    training = dict(trial.training)
    for path, value in values.items():
        parts = path.split(".")
        if parts[0] == "training":
            training[parts[1]] = value
        elif len(parts) == 4 and parts[0] == "blocks" and parts[1] in trial.blocks:
            trial.blocks[parts[1]].params[parts[3]] = value
        else:
            raise SweepError(f"{path} names nothing in this graph")
    trial.training = training
    return trial


def check_trial(doc, values: dict) -> tuple[str | None, dict]:
    """Why the graph with these values cannot train (analysis' diagnostics) or None, and its
    costs: parameters and MACs per sample (FLOPs = 2 x MACs)."""
    try:
        errors, costs = _errors(doc)
    except ConfigError as exc:
        return f"training settings: {exc}", {}
    if not errors:
        return None, costs
    swept = ", ".join(f"{p}={v:.4g}" if isinstance(v, float) else f"{p}={v!r}" for p, v in values.items())
    return f"with {swept} the graph does not work: " + "; ".join(_said(d) for d in errors), {}


def check_graph(doc, params) -> None:
    """Refuse, before anything is stored, a graph whose errors no swept value can mend (an unwired block, a
    block the sweep does not vary): every trial would fail. SweepError says what to fix."""
    varied = {p.split(".")[1] for p in params if p.startswith("blocks.")}
    try:
        errors, _costs = _errors(apply_values(doc, {}))
    except ConfigError:
        return                       # a swept training setting may be what mends it; trials say so if not
    fixed = [d for d in errors if d.block not in varied]
    if fixed:
        more = f" (and {len(fixed) - 1} more)" if len(fixed) > 1 else ""
        raise SweepError(f"the graph does not work whatever the sweep tries: {_said(fixed[0]).rstrip('.')}{more}; "
                         "fix the graph first (its Problems panel, or layerloom check FILE)")


def data_problem(doc) -> str | None:
    """Why the sweep's data set cannot be read here (a deleted or unreadable image folder, an online set not
    downloaded while offline), or None. Every trial trains on the same data set, so it is loaded once before
    the first trial (an online set that can be downloaded is downloaded now, once, not by every trial)."""
    try:
        cfg = TrainConfig.from_sources(doc.training)
    except ConfigError:
        return None                  # a swept training setting may be what mends it; trials say so if not
    inputs = [b for b in doc.blocks.values() if b.kind == "Input"]
    shape = tuple(inputs[0].full_params()["shape"]) if len(inputs) == 1 else None
    try:
        data = load_dataset(cfg.dataset, input_shape=shape, seed=cfg.seed, **cfg.dataset_options)
        if len(data.train) == 0 or len(data.val) == 0:
            return f"{data.info.name} has an empty training or validation split: add samples to it"
    except DataError as exc:
        return str(exc)
    except OSError as exc:
        return f"the data set {cfg.dataset} cannot be read: {os_error_text(exc)}"
    return None


def refused_for_data(problem: str, worker: bool = False) -> str:
    """The sentence that refuses a sweep (`worker`: a sweep-worker's share of one) whose data set `data_problem`
    found wanting."""
    said = problem[:1].lower() + problem[1:] if problem[1:2].islower() else problem     # "The image folder"
    if worker:
        return (f"this worker ran no trial: {said.rstrip('.')}. Start it again once the data set can be read on "
                "this machine.")
    return (f"the sweep was not started: {said.rstrip('.')}. No trial ran: start the sweep again once its "
            "data set can be read.")


def _said(d) -> str:
    return f"{d.block}: {d.message}" if d.block else d.message


def _errors(doc) -> tuple[list, dict]:
    """Analysis' errors for `doc` with its data set, and its costs; ConfigError for bad training settings."""
    cfg = TrainConfig.from_sources(doc.training)
    inputs = [b for b in doc.blocks.values() if b.kind == "Input"]
    context = None
    if len(inputs) == 1:
        try:
            info = dataset_info(cfg.dataset, input_shape=tuple(inputs[0].full_params()["shape"]),
                                **cfg.dataset_options)
            context = info.data_context()
        except DataError:
            context = None     # the trial itself will say what is wrong with the data set
    result = analyze(doc, context)
    return list(result.errors), {"params": result.total_params, "macs": result.total_flops // 2}


class TrialProcess:
    """`layerloom train` for one trial; events go to `queue` as (number, event) pairs."""

    def __init__(self, number: int, graph_path: Path, runs_dir: Path, queue, *, epochs: int | None,
                 threads: int, seed: int, measure_threads: bool = False):
        self.number = number
        self.stderr_tail = collections.deque(maxlen=STDERR_LINES)
        self.pruned_at: int | None = None
        self.stopping = False
        self.aborted = False
        cmd = [*TRAIN, str(graph_path), "--events-json",
               "--out", str(runs_dir), "--threads", "0" if measure_threads else str(threads), "--seed", str(seed)]
        if epochs:
            cmd += ["--epochs", str(epochs)]
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(threads))
        self.proc = forked.start(cmd, env)       # its own session: a terminal's Ctrl-C reaches the coordinator only
        self._threads = [threading.Thread(target=self._read_events, args=(queue,), daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_events(self, queue) -> None:
        for line in self.proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "type" in event:
                queue.put((self.number, event))
        queue.put((self.number, {"type": "_eof"}))

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            if line.strip():
                self.stderr_tail.append(line.rstrip())

    def stop(self) -> None:
        """Ask the trial to stop cleanly (it saves a checkpoint and exits)."""
        if self.proc.poll() is None and not self.stopping:
            self.stopping = True
            self.pause(False)
            self.proc.send_signal(signal.SIGINT)

    def abort(self) -> None:
        """End the trial now, whatever it is doing (a second Ctrl-C): its process group gets SIGKILL, so
        its data-loading workers go too. Its checkpoints are written atomically: the last complete one stays."""
        if self.proc.poll() is None and not self.aborted:
            self.aborted = self.stopping = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)    # its own session: the group is its pid
            except (OSError, AttributeError):
                self.proc.kill()

    def pause(self, paused: bool) -> None:
        if self.proc.poll() is None and hasattr(signal, "SIGSTOP"):
            self.proc.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    @property
    def server_lost(self) -> bool:
        """The fork server ended before this trial did (forked.py): it was stopped, not failed."""
        return bool(getattr(self.proc, "server_lost", False))

    def wait(self, timeout=None) -> int:
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(timeout=5)
        return rc

    def failure_text(self) -> str:
        """The last lines the trial wrote to stderr; the last line says how it ended when a signal ended it."""
        lines = [ln for ln in self.stderr_tail if ln.strip()][-STDERR_LINES:]
        rc = self.proc.returncode
        if rc is not None and rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            why = (": the system may have run out of memory; run fewer workers or use a smaller batch size"
                   if name == "SIGKILL" else "")
            lines.append(f"the training process was ended by {name}{why}")
        return "\n".join(lines) or f"the training process exited with code {rc} without saying why"
