"""`layerloom import`: a PyTorch model as an editable graph with its weights.

  layerloom import model.py:Net --out net.loom.json --input-shape 3,32,32 [--args '{"width": 64}'] [--report]
  layerloom import torchvision:resnet18 --out resnet18.loom.json
"""
from __future__ import annotations

import sys

from .cli import can_write

DIFFERS = 3      # the exit status of an import written whose graph does not compute what its source does


def add_parser(sub) -> None:
    p = sub.add_parser("import",
                       help="import a PyTorch model, an ONNX file or a .pt2 program as a graph with its weights",
                       description="Import SOURCE (model.py:Net, model.py:build, torchvision:NAME, an ONNX file or a "
                                   "torch.export .pt2 file) as a "
                                   "graph file with a safetensors file of its weights beside it. Importing a "
                                   "Python file runs it: only import code you trust.",
                       epilog="exit status: 0 imported, and the graph computes what the source does; 1 refused (the "
                              "reason on stderr, nothing written); 2 an option written wrong; 3 written, but the "
                              "graph's outputs differ from the source's (the warning on stderr)",
                       allow_abbrev=False)
    p.add_argument("source", help="model.py:ClassName, model.py:factory, torchvision:NAME, FILE.onnx or FILE.pt2")
    p.add_argument("--out", required=True, help="the graph file to write (FILE.loom.json)")
    p.add_argument("--input-shape", default="3,224,224",
                   help="one sample's shape, e.g. 3,224,224 (default; an ONNX file gives its own)")
    p.add_argument("--input-dtype", default="float32", choices=("float32", "int64"))
    p.add_argument("--args", default=None, help="constructor arguments as JSON: an object or a list")
    p.add_argument("--report", action="store_true", help="print what each source node became")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from layerloom.graph.importers import ImportFailure, import_source, parse_args_json, parse_input_shape, save_import

    if not can_write("import", "--out", args.out, folder=False):
        return 2
    try:
        shape = parse_input_shape(args.input_shape, "--input-shape")
        ctor = parse_args_json(args.args, "--args") if args.args else None
    except ImportFailure as exc:     # an option written wrong: a usage error (2), as argparse's own
        print(f"layerloom import: {exc}", file=sys.stderr)
        return 2
    try:
        result = import_source(args.source, shape, ctor, args.input_dtype)
        weights = save_import(result, args.out)
    except ImportFailure as exc:
        print(f"layerloom import: {exc}", file=sys.stderr)
        return 1
    from layerloom.graph.opaque import remember_import
    problem = remember_import(args.source)     # later commands may run the file's Opaque blocks (graph/trust.py)
    if problem:
        print(f"layerloom import: warning: {problem}", file=sys.stderr)
    report = result.report
    if args.report:
        print(report.text())
    f = report.fidelity
    held = f"weights in {weights}" if result.state else "no weights (the model has none to keep)"
    print(f"{args.out}: {len(result.doc.blocks)} blocks ({len(report.opaque)} Opaque), {held}; "
          f"max output difference {f.get('max_abs_diff')}, strict load {f.get('strict_load')}")
    if report.fidelity_warning():     # written, for a look at it, but no script may take it for a faithful import
        print(f"layerloom import: warning: {report.fidelity_warning()} (exit status {DIFFERS})", file=sys.stderr)
        return DIFFERS
    return 0
