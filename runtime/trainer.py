"""The trainer: a plain Python training loop that reports through a callback.

    trainer = Trainer(doc, {"epochs": 2}, callback=print)
    summary = trainer.run()          # never raises: problems end in a `failed` event

`pause()`, `resume()`, `stop()` and `set_lr()` are safe to call from another thread (the desktop
app runs `run()` in a worker thread). Events are plain dicts with a "type" (see events.py); arrays
in them are small numpy arrays, never live tensors.
"""
from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import torch

from layerloom.graph import CompileError, analyze, compile_graph, rng
from layerloom.graph.fileformat import graph_from_dict, graph_to_dict
from layerloom.graph.weights import WeightsError

from . import devices, threads
from .batches import (DataReadError, epoch_batches as read_epoch, gather, loader_workers, read_error, read_failure,
                      reads_from_disk, worker_died)
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .data import DataError, load_dataset
from .data.transforms import build_transforms
from .events import STEP_EVENT_INTERVAL, epoch_metrics, explain_step_failure
from .device_path import prepare_model, to_device
from .extensions import Extensions
from .distillation import Distillation
from .epoch_plan import epoch_steps, run_batch
from .freezing import Freezing
from .initial_weights import InitialWeights
from .optimization import change_lr, make_optimizer, make_scheduler, training_loss
from .path_problems import os_error_text
from .preflight import ALL_FROZEN, preflight
from .processes import claim_run, release_run, resume_refusal
from .resuming import ResumeRefused, classes_refusal, configured_lr, position_problem, restore
from .runs import append_metrics, create_run_dir, write_json, write_run_start
from .taps import FeatureTaps, probe_image


class RunInUse(Exception):
    """The run to resume is being trained by another live process."""


class TrainingFailed(Exception):
    """Raised inside the loop; becomes a `failed` event with this message."""


def pick_device(name: str) -> torch.device:
    lacking = devices.missing(name)
    if lacking:
        raise TrainingFailed(f"device is set to {name} but {lacking}: use device auto or cpu")
    return torch.device(devices.resolve(name))


class Trainer:
    def __init__(self, doc, config: TrainConfig | dict | None = None, callback=None, *, runs_base="runs",
                 run_dir=None, resume=None, taps: FeatureTaps | None = None, data=None, probe_index: int = 0,
                 extensions=()):
        if doc is None and resume is None:
            raise ValueError("give a graph to train, or a run to resume")
        self.doc = doc.copy() if doc is not None else None
        self._config_source = config
        self.callback = callback or (lambda event: None)
        self.runs_base = Path(runs_base)
        self.run_dir = Path(run_dir) if run_dir else None
        self.resume_from = resume
        self.taps = taps or FeatureTaps()
        self.data = data
        self.probe_index = probe_index
        self.loader_workers = loader_workers()   # worker processes for a set read from disk (0: none)
        # Built-in extensions first: the starting weights and the frozen blocks are in place before any other runs.
        self.extensions = Extensions([InitialWeights(), Freezing(), Distillation(), *extensions])
        self.state = "idle"
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()
        self._pending_lr: float | None = None
        self.summary: dict | None = None

    # -- control (any thread) ------------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def set_lr(self, lr: float) -> None:
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= 10):
            raise ValueError("the learning rate must be a number between 0 and 10")
        with self._lock:
            self._pending_lr = float(lr)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # -- the run -------------------------------------------------------------------------------
    def emit(self, event: dict) -> None:
        """Send an event to the listener (extensions use this for events of their own)."""
        self._emit(event)

    def _emit(self, event: dict) -> None:
        try:
            self.callback(event)
        except Exception:  # a broken listener must not kill training
            pass

    def run(self) -> dict | None:
        self.state = "running"
        step = 0
        self._claimed = False
        try:
            return self._run()
        except (RunInUse, ResumeRefused) as exc:   # another process trains the folder, or the run cannot go on
            #                                        from its checkpoint: its files are left as they are
            self.state = "failed"
            self._emit({"type": "failed", "message": str(exc), "step": 0})
            return None
        except TrainingFailed as exc:
            return self._fail(str(exc))
        except (ConfigError, DataError, CheckpointError) as exc:
            return self._fail(str(exc))
        except (CompileError, WeightsError) as exc:
            return self._fail(str(exc))
        except OSError as exc:     # the run folder or a checkpoint cannot be written (a file in the way, a full disk)
            return self._fail(f"training stopped at step {getattr(self, 'step', step)}: {os_error_text(exc)}")
        except Exception as exc:   # last resort: still a message, never an escaping exception
            if worker_died(exc) and hasattr(self, "last_checkpoint"):     # (raised wherever the loop was)
                return self._fail(self._read_failed(exc))
            return self._fail(f"training stopped unexpectedly at step {getattr(self, 'step', step)}: "
                              f"{type(exc).__name__}: {exc}")
        finally:
            if self._claimed:
                release_run(self.run_dir)

    def _fail(self, message: str) -> None:
        self.state = "failed"
        if self.run_dir is not None and self.run_dir.exists():
            try:
                write_json(self.run_dir / "summary.json", {**(self.summary or {}), "status": "failed",
                                                           "message": message})
            except OSError:
                pass
        self._emit({"type": "failed", "message": message, "step": getattr(self, "step", 0)})
        return None

    def _setup(self):
        resume = None
        if self.resume_from is not None:
            resume = load_checkpoint(self.resume_from)
            self.doc = graph_from_dict(resume.meta["graph"])
            base = resume.meta.get("config", {})
            self.config = TrainConfig.from_sources(base, self._config_source
                                                   if isinstance(self._config_source, dict) else None)
            if self.run_dir is None:
                self.run_dir = resume.path.parent.parent
            refused = resume_refusal(self.run_dir)      # a live trainer, one on another machine, a damaged file
            if refused is not None:
                raise RunInUse(refused)
        elif isinstance(self._config_source, TrainConfig):
            self.config = self._config_source
        else:
            self.config = TrainConfig.from_sources(self.doc.training, self._config_source)
        cfg = self.config
        self.threads = threads.configure(cfg.threads)
        self.device = pick_device(cfg.device)
        if threads.measuring(cfg.threads) and self.device.type == "cpu":
            self.extensions.add(threads.ThreadTuner())   # measures the thread count in the first steps
        if self.device.type == "cuda":
            from .memory_check import MemoryCheck
            self.extensions.add(MemoryCheck())            # the memory estimate against the first step
        checked = preflight(self.doc, cfg.dataset, cfg.dataset_options, self.data.info if self.data else None,
                            batch_size=cfg.batch_size)
        if checked.errors:
            raise TrainingFailed("; ".join(d.text.rstrip(".") for d in checked.errors) + ".")
        input_shape = tuple(next(b for b in self.doc.blocks.values() if b.kind == "Input").full_params()["shape"])
        data = self.data or load_dataset(cfg.dataset, input_shape=input_shape, seed=cfg.seed,
                                         **cfg.dataset_options)
        self.info = data.info
        refused = classes_refusal(resume.meta, data.info) if resume is not None else None
        if refused is not None:            # (a class folder added, removed or renamed since the run stopped)
            raise ResumeRefused(f"Cannot resume {self.run_dir.name}: {refused}.")
        self.data_context = data.info.data_context()
        result = analyze(self.doc, self.data_context)
        model = compile_graph(self.doc, result, seed=cfg.seed, weights=resume is None)
        output = next(b for b in result.order if self.doc.blocks[b].kind == "Output")
        self.num_outputs = result.blocks[output].output_shape[0]
        found = checked.diagnostics
        self.warnings = [d.message for d in found if d.severity == "warning"]
        self.train_set, self.val_set = data.train, data.val
        if len(self.train_set) == 0 or len(self.val_set) == 0:
            raise TrainingFailed(f"{data.info.name} has an empty training or validation split")
        if hasattr(self.train_set, "to") and self.device.type != "cpu":
            self.train_set, self.val_set = self.train_set.to(self.device), self.val_set.to(self.device)
        self.train_tf = build_transforms(data.info, augment=cfg.augment, normalize=cfg.normalize, train=True)
        self.val_tf = build_transforms(data.info, augment=None, normalize=cfg.normalize, train=False)
        self.model, self.channels_last = prepare_model(model, self.device)
        self.extensions.call("setup", self)
        return resume

    def _optimizer(self, params):
        return make_optimizer(self.config, params)

    def _batch(self, split, idx: torch.Tensor, transform):
        return self._ready(*gather(split, idx), transform)

    def _ready(self, x, y, transform):
        """A batch as read, moved to the device and transformed."""
        x, y = to_device(x, y, self.device, self.channels_last)
        if transform is not None:
            x = transform(x)
        return x, y

    def _loss(self, logits, y):
        return training_loss(self.config.loss, logits, y)

    def _apply_pending_lr(self, optimizer, scheduler) -> None:
        with self._lock:
            new, self._pending_lr = self._pending_lr, None
        if new is None:
            return
        applied = change_lr(optimizer, scheduler, new)
        self.config.lr = configured_lr(optimizer, self.config.schedule)   # the run's files say what it trains with:
        write_json(self.run_dir / "config.json", self.config.to_dict())   # its config, and its next checkpoint
        self._emit({"type": "lr_changed", "lr": applied, "step": self.step})

    def _wait_if_paused(self) -> None:
        if self._running.is_set():
            return
        self.state = "paused"
        self._emit({"type": "paused", "step": self.step})
        while not self._running.wait(0.2):   # sleeps; wakes on resume or stop
            pass
        if not self._stop.is_set():
            self.state = "running"
            self._emit({"type": "resumed", "step": self.step})
            self.extensions.call("resumed", self)

    def _run(self) -> dict | None:
        started_at = time.monotonic()
        resume = self._setup()
        cfg = self.config
        n = len(self.train_set)
        bs = run_batch(cfg.batch_size, n)
        steps_per_epoch = epoch_steps(n, bs)                          # never a batch of one
        refused = position_problem(resume.meta, n, bs, steps_per_epoch) if resume is not None else None
        if refused is not None:
            raise ResumeRefused(f"Cannot resume {self.run_dir.name}: {refused}.")
        total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps:
            total_steps = min(total_steps, cfg.max_steps)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if not trainable:
            raise TrainingFailed(ALL_FROZEN)
        optimizer = self._optimizer(trainable)
        scheduler = make_scheduler(cfg, optimizer, total_steps, steps_per_epoch)
        use_amp = cfg.amp and self.device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)                     # (the CUDA generators)
        self._stream = rng.Stream(cfg.seed)             # dropout and augmentation draw from it (graph/rng.py)
        self.step, epoch, skip = 0, 0, 0
        self.last_checkpoint = resume.path if resume is not None else None
        if resume is not None:
            self.step, epoch, skip = restore(self, resume, optimizer, scheduler, scaler, gen)
            asked = self._config_source.get("lr") if isinstance(self._config_source, dict) else None
            if asked is not None and asked != cfg.lr:
                self.set_lr(asked)                      # applies at the first step, as a rate changed while paused
        self.run_steps = total_steps - self.step      # what this run trains (a resumed run: what is left)
        if self.run_dir is None:
            self.run_dir = create_run_dir(self.runs_base, self.doc.name)
        claim_run(self.run_dir)          # (a kill leaves it: the Runs list then offers to resume the run)
        self._claimed = True
        write_run_start(self.run_dir, self.doc, cfg)

        probe_index = min(self.probe_index, len(self.val_set) - 1)
        probe_x, probe_y = self._batch(self.val_set, torch.tensor([probe_index]), self.val_tf)
        raw_probe, _ = self._batch(self.val_set, torch.tensor([probe_index]), None)
        self._emit({"type": "started", "run_dir": str(self.run_dir), "device": str(self.device),
                    "threads": self.threads, "threads_source": threads.source(cfg.threads, self.device.type),
                    "loader_workers": self.loader_workers if reads_from_disk(self.train_set) else 0,
                    "epochs": cfg.epochs, "steps_per_epoch": steps_per_epoch,
                    "total_steps": total_steps, "start_step": self.step, "num_train": n,
                    "num_val": len(self.val_set), "dataset": self.info.name,
                    "class_names": list(self.info.class_names), "config": cfg.to_dict(),
                    "params": sum(p.numel() for p in self.model.parameters()), "warnings": self.warnings,
                    "resumed_from": str(resume.path) if resume else None, "probe_index": probe_index,
                    "probe_label": int(probe_y[0]), "probe_input": probe_image(raw_probe[0])})

        self.model.train()
        last_emit, window_loss, window_n, window_samples = time.monotonic(), 0.0, 0, 0
        val, validated_at = {}, None
        stopped = False
        # The loss summed over the epoch's steps so far (a resumed run: from before it stopped), so that the
        # epoch's train_loss is the same as a run that never stopped had.
        carried = tuple(resume.meta.get("epoch_loss", (0.0, 0))) if resume is not None and skip else (0.0, 0)
        # (skip == steps_per_epoch: the run stopped during an epoch's validation, which it does again now)
        while epoch < cfg.epochs and (self.step < total_steps or skip >= steps_per_epoch):
            epoch_state = gen.get_state()
            perm = torch.randperm(n, generator=gen)
            (epoch_loss, epoch_batches), carried = carried, (0.0, 0)
            epoch_started = time.monotonic()
            reader = read_epoch(self.train_set, [perm[i * bs:(i + 1) * bs] for i in range(skip, steps_per_epoch)],
                                   self.loader_workers)
            i = skip                           # (an epoch with no steps left)
            for i in range(skip, steps_per_epoch):
                if self._stop.is_set():
                    stopped = True
                    break
                self._wait_if_paused()
                if self._stop.is_set():
                    stopped = True
                    break
                self._apply_pending_lr(optimizer, scheduler)
                idx = perm[i * bs:(i + 1) * bs]
                try:
                    with self._stream.drawing():        # augmentation
                        x, y = self._ready(*next(reader), self.train_tf)
                except DataReadError as exc:     # a worker killed (memory), a file gone: what is kept, how to go on
                    raise TrainingFailed(self._read_failed(exc)) from None
                if int(y.max()) >= self.num_outputs or int(y.min()) < 0:
                    raise TrainingFailed(
                        f"step {self.step + 1}: a label is {int(y.max())}, but the network has only "
                        f"{self.num_outputs} outputs (labels 0 to {self.num_outputs - 1}): set the last Linear's "
                        f"out_features to at least {int(y.max()) + 1}")
                try:
                    with self._stream.drawing(), torch.autocast(self.device.type, enabled=use_amp):
                        logits = self.model(x)
                        loss = self._loss(logits, y)
                        if self.extensions.has("loss"):
                            loss = self.extensions.loss(self, x, logits, y, loss)
                    loss_value = float(loss.detach())
                    if not math.isfinite(loss_value):
                        raise TrainingFailed(
                            f"step {self.step + 1}: the loss became {loss_value} (not a finite number), so training "
                            f"stopped; {self._kept_text()}. Lower the learning rate (now "
                            f"{optimizer.param_groups[0]['lr']:g}), turn on gradient clipping, or check the data "
                            "for invalid values.")
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    self.extensions.call("after_backward", self)
                    if cfg.grad_clip > 0:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                except TrainingFailed:
                    raise
                except Exception as exc:
                    raise TrainingFailed(self._read_failed(exc) if worker_died(exc) else
                                         explain_step_failure(self.step + 1, exc, self.device)) from None
                if scheduler is not None:
                    scheduler.step()
                self.step += 1
                self.extensions.call("after_step", self, loss_value)
                epoch_loss += loss_value
                epoch_batches += 1
                window_loss += loss_value
                window_n += 1
                window_samples += len(idx)
                now = time.monotonic()
                last_of_epoch = i == steps_per_epoch - 1
                if now - last_emit >= STEP_EVENT_INTERVAL or last_of_epoch or self.step >= total_steps:
                    self._emit({"type": "step", "step": self.step, "epoch": epoch + 1,
                                "epoch_progress": (i + 1) / steps_per_epoch, "total_steps": total_steps,
                                "loss": window_loss / window_n, "lr": optimizer.param_groups[0]["lr"],
                                "samples_per_s": window_samples / max(now - last_emit, 1e-9)})
                    last_emit, window_loss, window_n, window_samples = now, 0.0, 0, 0
                if self.taps.due(epoch_end=last_of_epoch or self.step >= total_steps):
                    for ev in self.taps.capture(self.model, probe_x, probe_index):
                        ev["step"] = self.step
                        self._emit(ev)
                if self.step >= total_steps:
                    break
            reader.close()                    # ends the epoch's data-loading workers, if any
            position = i + 1 if not stopped else i
            if stopped or (self.step >= total_steps and position < steps_per_epoch):
                self._checkpoint(optimizer, scheduler, scaler, epoch_state, epoch, position,
                                 (epoch_loss, epoch_batches))
                break
            skip = 0
            train_seconds = time.monotonic() - epoch_started
            done = self._validate(steps_per_epoch)
            if done is None:                  # stopped during validation: a resume validates this epoch again
                stopped = True
                self._checkpoint(optimizer, scheduler, scaler, epoch_state, epoch, steps_per_epoch,
                                 (epoch_loss, epoch_batches))
                break
            epoch += 1
            val, validated_at = done, self.step
            row = {"epoch": epoch, "step": self.step, "train_loss": epoch_loss / max(epoch_batches, 1),
                   "val_loss": val["val_loss"], "val_accuracy": val["val_accuracy"],
                   "lr": optimizer.param_groups[0]["lr"], "seconds": time.monotonic() - epoch_started}
            append_metrics(self.run_dir, row)
            self._emit({"type": "epoch_end", **row, "train_seconds": train_seconds,
                        **{k: v for k, v in val.items() if k not in row}})
            self.extensions.call("epoch_end", self, row)
            self._checkpoint(optimizer, scheduler, scaler, gen.get_state(), epoch, 0)
            last_emit, window_loss, window_n, window_samples = time.monotonic(), 0.0, 0, 0

        seconds = time.monotonic() - started_at
        if not stopped and validated_at != self.step:     # max_steps ended an epoch part-way: the weights
            last = self._validate(steps_per_epoch)        # moved on since the last epoch's validation
            stopped = last is None                        # (its checkpoint is saved: a resume validates)
            val = last or {}
        self.summary = {"val_accuracy": val.get("val_accuracy"), "val_loss": val.get("val_loss"),
                        "epochs": epoch, "steps": self.step, "seconds": round(seconds, 2),
                        "status": "stopped" if stopped else "finished", "dataset": self.info.name,
                        "device": str(self.device)}
        write_json(self.run_dir / "summary.json", self.summary)
        self.extensions.call("finish", self, self.summary)
        self.state = "stopped" if stopped else "finished"
        self._emit({"type": "finished", "stopped": stopped, "summary": dict(self.summary),
                    "run_dir": str(self.run_dir)})
        return self.summary

    def _read_failed(self, exc: BaseException) -> str:
        """The message of a run whose training data could not be read: a DataReadError, or torch's word that a
        worker process died (its SIGCHLD handler raises that wherever the loop is, a step or a checkpoint)."""
        error = exc if isinstance(exc, DataReadError) else read_error(exc)
        return read_failure(error, self.step + 1, self._kept_text(), self.run_dir, self.last_checkpoint is not None)

    def _kept_text(self) -> str:
        """What is left to go back to after a failure: the last checkpoint, or none."""
        if self.last_checkpoint is None:
            return "no checkpoint was saved before it (the first is saved at the end of the first epoch)"
        return f"the last checkpoint ({Path(self.last_checkpoint).name}) is kept"

    @torch.no_grad()
    def _validate(self, steps_per_epoch: int) -> dict | None:
        """The validation metrics, or None when Stop came during the validation (a long one ends within a batch)."""
        self.model.eval()
        try:
            return epoch_metrics(self.model, self.val_set, lambda idx: self._batch(self.val_set, idx, self.val_tf),
                                 self._loss, self.num_outputs, self.info, max(self.config.batch_size, 256),
                                 stopped=self._stop.is_set)
        finally:
            self.model.train()

    def _checkpoint(self, optimizer, scheduler, scaler, epoch_generator_state, epoch, step_in_epoch,
                    epoch_loss: tuple[float, int] = (0.0, 0)) -> None:
        state = {"optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict() if scheduler is not None else {},
                 "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                 "epoch_generator": epoch_generator_state, "rng": self._stream.state,
                 "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None}
        meta = {"epoch": epoch, "step": self.step, "step_in_epoch": step_in_epoch, "epoch_loss": list(epoch_loss),
                "graph_name": self.doc.name,
                "num_train": len(self.train_set), "batch": run_batch(self.config.batch_size, len(self.train_set)),
                "graph": graph_to_dict(self.doc), "config": self.config.to_dict(), "dataset": self.info.name,
                "class_names": list(self.info.class_names), "input_shape": list(self.info.sample_shape),
                "mean": list(self.info.mean), "std": list(self.info.std), "normalize": self.config.normalize,
                "data_context": self.data_context, "vocabulary": list(self.info.vocabulary)}
        name = f"epoch-{epoch:04d}-step-{self.step:07d}"
        path = save_checkpoint(self.run_dir / "checkpoints", name, self.model.state_dict(), state, meta)
        self.last_checkpoint = path
        self._emit({"type": "checkpoint", "path": str(path), "epoch": epoch, "step": self.step})

