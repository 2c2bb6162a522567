"""`layerloom ensemble RUN RUN ... [--out DIR] [--format onnx|project]`: combine trained runs."""
from __future__ import annotations

import sys

from .cli import can_write


def add_parser(sub) -> None:
    p = sub.add_parser("ensemble", help="combine runs with the same input and outputs", allow_abbrev=False,
                       description="Report each run's validation accuracy and the ensemble's (mean of softmax); "
                                   "with --out, export the ensemble as one ONNX model and a project.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", help="folder to export the ensemble into")
    p.add_argument("--format", action="append", choices=("onnx", "project"), dest="formats",
                   help="export format (repeatable; default: both)")
    p.set_defaults(func=cmd_ensemble)


def _print_scores(paths, members, report) -> None:
    for path, m in zip(paths, report["members"]):
        print(f"{path}: val accuracy {m['val_accuracy'] * 100:.2f}%")
    print(f"ensemble of {len(members)} (mean of softmax): "
          f"val accuracy {report['ensemble_val_accuracy'] * 100:.2f}% "
          f"on {report['num_val']:,} {report['dataset']} validation samples "
          f"(best member {report['best_member_val_accuracy'] * 100:.2f}%)")


def cmd_ensemble(args) -> int:
    from .ensemble import EnsembleDataMissing, EnsembleError, evaluate, export_ensemble, load_members
    from .export import ExportError
    if args.formats and args.out is None:
        print("layerloom ensemble: --format says how to export, and --out where: give --out DIR as well",
              file=sys.stderr)
        return 2
    if args.out is not None and not can_write("ensemble", "--out", args.out):
        return 2
    try:
        members = load_members(args.runs)
        try:
            _print_scores(args.runs, members, evaluate(members))
        except EnsembleDataMissing as exc:     # exporting needs only the weights, as `layerloom prune` does
            if not args.out:
                raise EnsembleError(f"{exc} (with --out DIR the ensemble is exported all the same)") from None
            print(f"Validation accuracy not measured: {exc}")
        if args.out:
            for fmt, path in export_ensemble(members, args.out, args.formats or ("onnx", "project")).items():
                print(f"{fmt}: {path}")
    except EnsembleError as exc:
        print(f"layerloom ensemble: {exc}", file=sys.stderr)
        return 2
    except ExportError as exc:     # the ONNX file could not be written or made (a full disk, an operator)
        print(f"layerloom ensemble: {exc}", file=sys.stderr)
        return 1
    return 0
