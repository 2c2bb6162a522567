"""`layerloom prune`: remove a share of a trained run's channels, fine-tune, and print before/after."""
from __future__ import annotations

import sys

from .cli import RUN, can_write, exists


def add_parser(sub) -> None:
    p = sub.add_parser("prune", help="structured pruning of a trained run: fewer channels, kept weights, "
                                     "a short fine-tune and a before/after table",
                       description="Rank the channels of Conv and Linear blocks by the L1 norm of their weights, "
                                   "drop the weakest, and save the smaller graph with its kept weights.")
    p.add_argument("run", help="a run folder or checkpoint folder")
    p.add_argument("--ratio", type=_ratio, required=True,
                   help="share of each block's channels to remove, e.g. 0.5: a block of n channels loses "
                        "round(ratio × n), as torch.nn.utils.prune counts, and keeps at least one")
    p.add_argument("--block", action="append", dest="blocks", metavar="ID",
                   help="prune only this block (repeatable; default: every block that can be pruned)")
    p.add_argument("--finetune-epochs", type=int, default=1, dest="finetune_epochs",
                   help="epochs of fine-tuning from the kept weights (0: none; default 1)")
    p.add_argument("--out", required=True, help="folder for the pruned graph and its weights")
    p.add_argument("--runs", default="runs", help="folder that holds the fine-tuning run (default: runs)")
    p.set_defaults(func=cmd_prune)


class _Ratio(float):
    """--ratio as a number that keeps its text as typed, for the message that refuses it."""

    text: str


def _ratio(text: str) -> float:
    import argparse
    try:
        value = _Ratio(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give the share of channels to remove, "
                                         "e.g. 0.5 for half") from None
    value.text = text
    return value


def cmd_prune(args) -> int:
    from layerloom.graph.pruning import PruneError

    from .checkpoints import CheckpointError
    from .data import DataError
    from .pruning import prune_run
    from .train_cli import Progress, stops_cleanly

    from .config import ConfigError, TrainConfig
    if not 0 < args.ratio < 1:        # NaN too: checked before anything is read or written
        what = "removes nothing" if args.ratio == 0 else "would remove every channel" if args.ratio == 1 else \
            "is not a share of the channels"
        print(f"layerloom prune: --ratio {getattr(args.ratio, 'text', args.ratio)}: {what}; give the share of channels to remove, between 0 "
              "and 1, e.g. --ratio 0.5 for half", file=sys.stderr)
        return 2
    problem = "must be 0 or more" if args.finetune_epochs < 0 else None
    if args.finetune_epochs > 0:     # what a training run takes, checked before any channel is cut
        try:
            TrainConfig.from_sources({"epochs": args.finetune_epochs})
        except ConfigError as exc:
            problem = str(exc)
    if problem:
        print(f"layerloom prune: --finetune-epochs: {problem} (0: no fine-tuning)", file=sys.stderr)
        return 2
    if not can_write("prune", "--out", args.out) or (args.finetune_epochs
                                                      and not can_write("prune", "--runs", args.runs)):
        return 2
    if not exists("prune", "", args.run, RUN):
        return 2
    try:
        data = _run_data(args.run)
    except (CheckpointError, DataError) as exc:
        print(f"layerloom prune: {exc}", file=sys.stderr)
        return 2
    holder: dict = {}             # the fine-tuning's trainer, once there is one: Ctrl-C then stops it cleanly
    try:
        with stops_cleanly(holder, "Stopping the fine-tuning after this step; the pruned graph is kept (Ctrl-C "
                                   "again to abort)...") as interrupted:
            report = prune_run(args.run, args.ratio, args.out, blocks=args.blocks,
                               finetune_epochs=args.finetune_epochs, runs_base=args.runs, data=data,
                               callback=Progress(sys.stdout, quiet=True),
                               on_trainer=lambda trainer: holder.update(trainer=trainer))
    except (PruneError, CheckpointError, DataError) as exc:
        print(f"layerloom prune: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    print(f"Pruned graph: {report.graph_path} (its kept weights beside it)")
    if report.run_dir:
        print(f"Fine-tuning run: {report.run_dir}{' (stopped)' if report.stopped else ''}")
    return 130 if report.stopped and interrupted["n"] else 0


def _run_data(run):
    """The run's data set, loaded as the run loaded it, for the before/after accuracies and the fine-tuning; None
    when it does not load (prune_run then says so, or prunes without measuring). A data set whose classes changed
    since the run trained is refused (ClassesChanged, a DataError): it would be measured, and fine-tuned, against
    other classes."""
    from .checkpoints import load_checkpoint
    from .data import DataError, load_dataset
    from .evaluation import check_classes

    meta = load_checkpoint(run, training_state=False).meta
    config = meta.get("config") or {}
    name = config.get("dataset") or meta.get("dataset")
    if not name:
        return None
    try:
        bundle = load_dataset(name, input_shape=tuple(meta.get("input_shape") or ()), seed=int(config.get("seed", 0)
                              or 0), **(config.get("dataset_options") or {}))
    except (DataError, TypeError, ValueError):
        return None
    check_classes(meta.get("class_names"), bundle.info)
    return bundle
