"""`layerloom export`: write a run's model in the formats people deploy with. Ctrl-C (or SIGTERM) stops it
cleanly after the format it is making, leaving the destination as it was; a second Ctrl-C stops it at once."""
from __future__ import annotations

import contextlib
import signal
import sys

from . import stop_signals
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
    if not can_write("export", "--out", args.out):
        return 2
    with stops_between_formats() as stop:
        from .export import ExportError, export_model
        try:
            src, results = export_model(args.source, list(dict.fromkeys(args.formats)), args.out,
                                        progress=lambda fmt, i, n: print(f"[{i + 1}/{n}] {fmt}...", flush=True),
                                        stop=stop)
        except ExportError as exc:
            stop.check()           # a failure while a stop was requested: the stop's doing, said as such
            print(f"layerloom export: {exc}", file=sys.stderr)
            return 2
    for w in src.warnings:
        print(f"warning: {w}", file=sys.stderr)
    failed = 0
    for r in results:
        print(r.line())
        failed += not r.verified
    return 1 if failed else 0


@contextlib.contextmanager
def stops_between_formats():
    """While the block runs, Ctrl-C or SIGTERM asks the export to stop after the format it is making (an
    Interruption the export looks at); a second Ctrl-C stops it at once (KeyboardInterrupt), except while the
    files are moved into place. The handler raises nothing else: an interrupt landing inside an import (torch
    imports torch._dynamo as a format starts) would leave that module half-loaded and later formats failing
    for no reason of their own."""
    from .export.staging import Interruption
    stop = Interruption()

    def on_signal(signum, frame):
        stop.requested += 1
        if stop.requested == 1 and not stop.held:     # (held: the export is complete but for moving its files)
            with contextlib.suppress(OSError):     # stderr may be gone with the terminal
                print("\nStopping after this format; nothing is exported (Ctrl-C again to stop at once)...",
                      file=sys.stderr, flush=True)
        elif signum == signal.SIGINT and not stop.held:
            raise KeyboardInterrupt

    with stop_signals.handled(on_signal):
        yield stop
