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
    p.add_argument("--ratio", type=float, required=True, help="share of channels to remove, e.g. 0.5")
    p.add_argument("--block", action="append", dest="blocks", metavar="ID",
                   help="prune only this block (repeatable; default: every block that can be pruned)")
    p.add_argument("--finetune-epochs", type=int, default=1, dest="finetune_epochs",
                   help="epochs of fine-tuning from the kept weights (0: none; default 1)")
    p.add_argument("--out", required=True, help="folder for the pruned graph and its weights")
    p.add_argument("--runs", default="runs", help="folder that holds the fine-tuning run (default: runs)")
    p.set_defaults(func=cmd_prune)


def cmd_prune(args) -> int:
    from layerloom.graph.pruning import PruneError

    from .checkpoints import CheckpointError
    from .data import DataError
    from .pruning import prune_run
    from .train_cli import Progress

    from .config import ConfigError, TrainConfig
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
        report = prune_run(args.run, args.ratio, args.out, blocks=args.blocks, finetune_epochs=args.finetune_epochs,
                           runs_base=args.runs, callback=Progress(sys.stdout, quiet=True))
    except (PruneError, CheckpointError, DataError) as exc:
        print(f"layerloom prune: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    print(f"Pruned graph: {report.graph_path} (its kept weights beside it)")
    if report.run_dir:
        print(f"Fine-tuning run: {report.run_dir}")
    return 0
