"""`layerloom train`: train a graph in the terminal with a progress bar; Ctrl-C (or SIGTERM) stops cleanly.

`--events-json` prints the run's events as JSON lines instead (how a sweep's coordinator follows
its trials)."""
from __future__ import annotations

import contextlib
import json
import math
import sys
from pathlib import Path

from . import stop_signals
from .cli import RUN, can_write, exists, load_or_say
from .config import ConfigError, TrainConfig
from .health_indicators import grouped_texts
from .live import LiveRun, format_duration
from .tensorboard_log import TensorBoardLog

SKIPPED_SHOWN = 5         # skipped initial-weight tensors listed with their reason (the rest counted)

# The data sets, the health checks, the preflight and the trainer load torch: they are imported when a
# run starts, so `layerloom train --help` answers at once. `Trainer` is this module's attribute all the
# same (tests replace it to watch a run's events).


def __getattr__(name: str):
    if name == "Trainer":
        from .trainer import Trainer
        return Trainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a graph on a data set",
                       description="Train FILE (or continue a run with --resume). Settings default to the "
                                   "graph's training section; options override them.")
    p.add_argument("file", nargs="?", help="a .loom.json graph (not needed with --resume)")
    p.add_argument("--dataset", help="data set name, e.g. mnist-sample, shapes, cifar10, image-folder; starts "
                                     "from its default options")
    p.add_argument("--data", metavar="PATH", help="your data for image-folder (a folder of class subfolders), "
                                                  "text-csv (a CSV/TSV file) or text-corpus (a text file)")
    p.add_argument("--data-option", action="append", default=[], dest="data_options", metavar="KEY=VALUE",
                   help="set a data set option, e.g. val_fraction=0.2 (repeatable)")
    p.add_argument("--epochs", type=int, metavar="N", help="passes over the training data, 1 to 100,000")
    p.add_argument("--batch-size", type=int, dest="batch_size", metavar="N", help="samples per step, 1 to 65,536")
    p.add_argument("--lr", type=float, metavar="RATE", help="learning rate, 1e-8 to 10")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    p.add_argument("--schedule", choices=("none", "step", "cosine", "onecycle"), help="learning-rate schedule")
    p.add_argument("--device", help="auto, cpu, cuda or mps")
    p.add_argument("--seed", type=int, metavar="N", help="random seed, 0 to 2**31-1 (the same seed repeats a run)")
    p.add_argument("--max-steps", type=int, dest="max_steps", metavar="N",
                   help="stop after this many steps (0: no limit)")
    p.add_argument("--init-from", dest="init_from", metavar="SOURCE",
                   help="start from trained weights: a run or checkpoint folder, a .safetensors or .pt file, "
                        "or torchvision:NAME")
    p.add_argument("--teacher", metavar="RUN", help="distil from this trained run (its softened outputs)")
    p.add_argument("--temperature", type=float, metavar="T", help="distillation temperature T (default 4)")
    p.add_argument("--alpha", type=float, metavar="A",
                   help="weight of the teacher's term; 1 - alpha weighs the ordinary loss (default 0.9)")
    p.add_argument("--out", metavar="DIR", help="folder that holds the run folders (default: runs)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch intra-op threads, 0 to 256 (default 0: Layerloom's measured choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, only the epoch lines")
    p.add_argument("--health-every", type=int, default=50, dest="health_every", metavar="N",
                   help="sample training health (health.csv, warnings) every N steps; 0 turns it off (default 50)")
    p.add_argument("--events-json", action="store_true", dest="events_json",
                   help="print the run's events as JSON lines on stdout (started, epoch_end, checkpoint, "
                        "finished, failed) instead of the progress text")
    p.add_argument("--no-tensorboard", action="store_true", dest="no_tensorboard",
                   help="do not write TensorBoard event files into the run folder")
    p.set_defaults(func=cmd_train)


def counted(n: int, word: str) -> str:
    """(1, 'epoch') -> '1 epoch'; (2, 'epoch') -> '2 epochs'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


class Progress:
    """The terminal's view of a run: every event folds into a `LiveRun` (the model the desktop app's
    views draw from), and the lines and the progress bar are drawn from it."""

    def __init__(self, stream, quiet: bool):
        self.stream = stream
        self.quiet = quiet or not (hasattr(stream, "isatty") and stream.isatty())
        self.live = LiveRun()
        self.bar_shown = False

    def _clear(self):
        if self.bar_shown:
            self.stream.write("\r\033[K")
            self.bar_shown = False

    def __call__(self, e: dict) -> None:
        live = self.live
        live.apply(e)
        t = e["type"]
        if t == "started":
            resumed = f", resumed from {e['resumed_from']}" if e["resumed_from"] else ""
            print(f"Training on {e['dataset']} ({e['num_train']:,} train / {e['num_val']:,} val) on {e['device']}, "
                  f"{e['params']:,} parameters, {counted(live.epochs_total, 'epoch')} of "
                  f"{counted(e['steps_per_epoch'], 'step')}{resumed}",
                  file=self.stream)
            print(f"Run folder: {e['run_dir']}", file=self.stream)
            for w in e["warnings"]:
                print(f"note: {w}", file=self.stream)
        elif t == "step" and not self.quiet:
            width = 24
            fill = int(width * live.fraction)
            bar = "█" * fill + "·" * (width - fill)
            self.stream.write(f"\repoch {live.epoch}/{live.epochs_total} {bar} {live.step}/{live.total_steps}  "
                              f"loss {live.steps.last('loss'):.4f}  {live.samples_per_s:,.0f} samples/s  "
                              f"ETA {format_duration(live.eta())}\033[K")
            self.stream.flush()
            self.bar_shown = True
        elif t == "epoch_end":
            self._clear()
            ep = live.epochs
            print(f"epoch {live.epoch}/{live.epochs_total}: train loss {ep.last('train_loss'):.4f}, "
                  f"val loss {ep.last('val_loss'):.4f}, val accuracy {ep.last('val_accuracy') * 100:.2f}% "
                  f"({live.last_epoch['seconds']:.1f} s)", file=self.stream)
        elif t == "weights_loaded":
            what = "graph weights" if e["what"] == "graph" else "initial weights"
            print(f"{what}: {len(e['loaded'])} tensors loaded, {len(e['skipped'])} skipped, {len(e['new'])} left new"
                  f" from {e['source']}", file=self.stream)
            for skipped in e["skipped"][:SKIPPED_SHOWN]:          # why, as the Initialise-from dialog says it
                key, why = (skipped["key"], skipped["why"]) if isinstance(skipped, dict) else skipped
                print(f"  skipped {key}: {why}", file=self.stream)
            if len(e["skipped"]) > SKIPPED_SHOWN:
                print(f"  and {len(e['skipped']) - SKIPPED_SHOWN} more skipped", file=self.stream)
        elif t == "frozen":
            print(f"frozen: {len(e['blocks'])} blocks ({e['params']:,} parameters)", file=self.stream)
        elif t == "paused":
            self._clear()
        elif t == "finished":
            self._clear()
            print(self.final_line(e["run_dir"]), file=self.stream)
        elif t == "health":
            for text in grouped_texts(e["new_problems"]):
                self._clear()
                print(f"warning at step {e['step']}: {text}", file=self.stream)
        elif t == "failed":
            self._clear()
            print(f"Training failed: {live.message}", file=sys.stderr)

    def final_line(self, run_dir: str) -> str:
        """The run's last line, from the LiveRun's figures."""
        live = self.live
        if live.state == "stopped":
            return f"Stopped at step {live.step}; resume with: layerloom train --resume {run_dir}"
        acc = (live.summary or {}).get("val_accuracy")
        acc_text = f"{acc * 100:.2f}%" if acc is not None else "n/a"
        return (f"Done: val accuracy {acc_text} after {counted(live.epoch, 'epoch')}, {counted(live.step, 'step')}, "
                f"{live.active_seconds:.1f} s")


# events a machine reads (a sweep's coordinator); per-step and picture events stay in the process
JSON_EVENTS = ("started", "epoch_end", "checkpoint", "paused", "resumed", "lr_changed", "finished", "failed")
JSON_SKIP = ("probe_input", "confusion", "val_predictions", "val_labels", "val_indices")


def _plain(value):
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


class JsonEvents:
    """Each event a line of JSON on `stream`, flushed at once."""

    def __init__(self, stream):
        self.stream = stream

    def __call__(self, e: dict) -> None:
        if e["type"] not in JSON_EVENTS:
            return
        if e["type"] == "failed":
            print(f"Training failed: {e['message']}", file=sys.stderr)
        line = json.dumps({k: _plain(v) for k, v in e.items() if k not in JSON_SKIP}, allow_nan=False)
        self.stream.write(line + "\n")
        self.stream.flush()


def _preflight_passes(doc, overrides: dict) -> bool:
    """The training check before any data is loaded or model built: each error on one line."""
    from .preflight import preflight
    try:
        cfg = TrainConfig.from_sources(doc.training, overrides)
    except ConfigError as exc:
        print(f"layerloom train: {' '.join(str(exc).split())}", file=sys.stderr)
        return False
    errors = preflight(doc, cfg.dataset, cfg.dataset_options, batch_size=cfg.batch_size).errors
    for d in errors:
        print(f"layerloom train: {' '.join(d.text.split())}", file=sys.stderr)
    return not errors


def cmd_train(args) -> int:
    from . import data_choice
    from .health import HealthCollector
    if args.file is None and args.resume is None:
        print("layerloom train: give a graph file, or --resume RUN_DIR", file=sys.stderr)
        return 2
    if args.file is not None and args.resume is not None:
        print(f"layerloom train: give a graph file or --resume RUN_DIR, not both: a resumed run goes on training "
              f"the graph it started with (train {args.file} on its own for a new run)", file=sys.stderr)
        return 2
    if args.resume is not None:
        kept = [flag for flag, given in (("--out", args.out is not None), ("--dataset", args.dataset),
                                         ("--data", args.data), ("--data-option", args.data_options)) if given]
        if kept:
            print(f"layerloom train: {', '.join(kept)} cannot change a resumed run, which goes on in its own folder "
                  f"with its own data; start a new run from its weights with --init-from {args.resume}",
                  file=sys.stderr)
            return 2
        if not exists("train", "--resume", args.resume, RUN):
            return 2
    if args.teacher is not None and not exists("train", "--teacher", args.teacher, RUN):
        return 2
    doc = None
    if args.file:
        doc = load_or_say(args.file)
        if doc is None:
            return 2
    distilling = [flag for flag, value in (("--temperature", args.temperature), ("--alpha", args.alpha))
                  if value is not None]
    if distilling and args.teacher is None and doc is not None and not doc.training.get("teacher"):
        print(f"layerloom train: {' and '.join(distilling)} {'set' if len(distilling) > 1 else 'sets'} how to distil "
              "from a teacher, and this run has none: give --teacher RUN (a trained run folder) as well, or leave "
              f"{'them' if len(distilling) > 1 else 'it'} out", file=sys.stderr)
        return 2
    overrides = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "optimizer", "schedule",
                                               "device", "seed", "max_steps", "init_from", "threads", "teacher",
                                               "temperature", "alpha")}
    if args.teacher:      # stored absolute: pruning or resuming the run from another folder finds the same teacher
        overrides["teacher"] = str(Path(args.teacher).expanduser().resolve())
    try:
        overrides.update(data_choice.resolve(doc.training if doc is not None else None, args.dataset,
                                             args.data, args.data_options))
    except data_choice.DataChoiceError as exc:
        print(f"layerloom train: {exc}", file=sys.stderr)
        return 2
    if args.health_every < 0:
        print("layerloom train: --health-every must be 0 (off) or a number of steps", file=sys.stderr)
        return 2
    out = "runs" if args.out is None else args.out
    if args.resume is None and not can_write("train", "--out", out):
        return 2
    if doc is not None and not _preflight_passes(doc, overrides):
        return 2
    progress = JsonEvents(sys.stdout) if args.events_json else Progress(sys.stdout, args.quiet)
    extensions = [HealthCollector(args.health_every)] if args.health_every else []
    if not args.no_tensorboard:
        extensions.append(TensorBoardLog())
    trainer = sys.modules[__name__].Trainer(doc, overrides, progress, runs_base=out, resume=args.resume,
                                            extensions=extensions)
    holder = {"trainer": trainer}
    with stops_cleanly(holder) as interrupted:
        summary = trainer.run()
    if summary is None:
        return 1
    return 130 if summary["status"] == "stopped" and interrupted["n"] else 0


@contextlib.contextmanager
def stops_cleanly(holder: dict, message: str = "Stopping after this step (Ctrl-C again to abort)..."):
    """While the block runs, Ctrl-C (or SIGTERM) stops `holder["trainer"]` after its step, with a checkpoint;
    a second Ctrl-C aborts (KeyboardInterrupt), as does one while there is no trainer yet. Yields {"n": how
    many stop requests came}."""
    interrupted = {"n": 0}

    def on_sigint(signum, frame):
        interrupted["n"] += 1
        trainer = holder.get("trainer")
        if interrupted["n"] > 1 or trainer is None:
            raise KeyboardInterrupt
        try:
            print(f"\n{message}", file=sys.stderr, flush=True)
        except OSError:   # stderr is gone (the process that read it died): stop all the same
            pass
        trainer.stop()

    def on_sigterm(signum, frame):   # e.g. a sweep's coordinator died: stop cleanly; repeats change nothing
        interrupted["n"] = max(1, interrupted["n"])
        trainer = holder.get("trainer")
        if trainer is None:
            raise KeyboardInterrupt
        trainer.stop()

    with stop_signals.handled(on_sigint, on_sigterm):
        yield interrupted
