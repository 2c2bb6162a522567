"""`layerloom export`: write a run's model in the formats people deploy with."""
from __future__ import annotations

import sys

from .cli import can_write

# The formats' names, for the parser without importing the exporters (they load torch); a test holds
# them equal to runtime.export.FORMATS.
FORMATS = ("safetensors", "state-dict", "onnx", "onnx-int8-dynamic", "onnx-int8-static", "pt2", "torchscript",
           "project")


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a trained run (or a graph) to weights, ONNX, pt2, TorchScript "
                                      "or a standalone PyTorch project")
    p.add_argument("source", help="a run folder, a checkpoint folder, or a .loom.json graph (untrained)")
    p.add_argument("--format", "-f", action="append", dest="formats", choices=list(FORMATS), required=True,
                   help="repeat for several formats (" + ", ".join(FORMATS) + ")")
    p.add_argument("--out", required=True, help="folder to write into")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from .export import ExportError, export_model
    if not can_write("export", "--out", args.out):
        return 2
    try:
        src, results = export_model(args.source, list(dict.fromkeys(args.formats)), args.out,
                                    progress=lambda fmt, i, n: print(f"[{i + 1}/{n}] {fmt}...", flush=True))
    except ExportError as exc:
        print(f"layerloom export: {exc}", file=sys.stderr)
        return 2
    for w in src.warnings:
        print(f"warning: {w}", file=sys.stderr)
    failed = 0
    for r in results:
        print(r.line())
        failed += not r.verified
    return 1 if failed else 0
