"""The `layerloom` command line (Qt-free subcommands).

  layerloom check FILE          exit 0 clean, 1 with problems (block_id: message), 2 unreadable
  layerloom summary FILE [--json] [--batch-size N [--optimizer adam] [--device cpu] [--largest-batch]]
  layerloom code FILE
  layerloom train FILE [--dataset NAME] [--epochs N] ... [--resume RUN_DIR]
The desktop app's own options (no command, FILE, --screenshot) are handled in layerloom.app.main.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from pathlib import Path

from .path_problems import in_the_way, os_error_text

# graph, torch and the commands' modules are imported when a command runs: `--help` and
# `--version` answer without loading torch.

# Commands defined in a module of their own: name -> module in layerloom.runtime that has
# `add_parser(subparsers)`. A new command is one line here plus its module.
COMMAND_MODULES = {
    "train": "train_cli",
    "export": "export_cli",
    "prune": "prune_cli",
    "bench": "bench_cli",
    "explain": "explain_cli",
    "sweep": "sweep_cli",
    "sweep-worker": "sweep_cli",
    "import": "import_cli",
    "ensemble": "ensemble_cli",
}
COMMANDS = ("check", "summary", "code", *COMMAND_MODULES)
# Their one-line help, for `layerloom --help` without importing them (a test checks it is complete).
COMMAND_HELP = {
    "train": "train a graph on a data set",
    "export": "export a trained run (or a graph) to weights, ONNX, pt2, TorchScript or a PyTorch project",
    "prune": "structured pruning of a trained run",
    "bench": "inference latency and throughput of a run: torch, .pt2, onnxruntime fp32 and int8",
    "import": "import a PyTorch model or an ONNX file as a graph with its weights",
    "ensemble": "combine runs with the same input and outputs",
    "explain": "explain one prediction of a trained run as a picture",
    "sweep": "run a hyperparameter / architecture sweep",
    "sweep-worker": "run trials of a sweep kept in a shared Optuna storage",
}


def load_or_say(path):
    """The graph in the file PATH, or None after one line on stderr that says why it cannot be read;
    a preset's bare name (`layerloom train lenet5`) is answered with where that preset's file is."""
    from layerloom.graph import GraphFileError, load_graph
    from layerloom.graph.opaque import allow_for_run
    try:
        doc = load_graph(path)
        allow_for_run(doc)        # --trust-code: its Opaque blocks' code, recorded for the processes it starts
        return doc
    except GraphFileError as exc:
        hint = ""
        if not Path(path).exists():
            from layerloom.presets import preset_paths
            name = Path(path).name.removesuffix(".loom.json")
            preset = next((p for p in preset_paths() if p.name == f"{name}.loom.json"), None)
            hint = f"; the {name} preset is the file {preset}" if preset is not None else ""
        print(f"layerloom: cannot read {exc}{hint}", file=sys.stderr)
        return None


def _load(path):
    doc = load_or_say(path)
    if doc is None:
        raise SystemExit(2)
    return doc


def can_write(command: str, flag: str, path, folder: bool = True) -> bool:
    """`in_the_way` for a command's output flag, said on one line of stderr; False when in the way."""
    problem = in_the_way(path, folder)
    if problem:
        kind = "folder" if folder else "path"
        print(f"layerloom {command}: cannot write {flag} {path}: {problem}; choose another {kind}", file=sys.stderr)
    return problem is None


RUN = "a run folder (runs/...) or one of its checkpoint folders"


def exists(command: str, flag: str, path, what: str) -> bool:
    """Whether PATH exists; if not, one line of stderr that says so and what to give instead (a path
    that is not there is a typo, not a run "with no checkpoint")."""
    if Path(path).exists():
        return True
    named = f"{flag} {path}" if flag else str(path)
    print(f"layerloom {command}: {named}: there is no such file or folder; give {what}", file=sys.stderr)
    return False


def out_of_memory(exc: BaseException) -> str | None:
    """The one-line message for an allocation that failed (torch's or Python's), else None."""
    if not isinstance(exc, MemoryError) and type(exc).__name__ != "OutOfMemoryError" \
            and "can't allocate memory" not in str(exc):
        return None
    size = re.search(r"allocate (\d+) bytes", str(exc))
    asked = f" ({int(size.group(1)) / 2**30:,.1f} GiB asked for)" if size else ""
    return f"not enough memory{asked}: try a smaller batch or input size"


TRUST_CODE_HELP = ("let the graph's Opaque blocks run the Python file or package they name, and remember that "
                   "they may (a file for its content now; `layerloom import` remembers the file it imported)")


def add_trust_code(parser) -> None:
    """The one `--trust-code` option every command that loads a graph takes (graph/opaque.py, graph/trust.py)."""
    parser.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)


class Parser(argparse.ArgumentParser):
    """argparse without prefix matching (`--data` must never silently mean `--dataset`); every
    subcommand's parser is one of these."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def _analyze(doc):
    """Analysis with data-driven "auto" values filled from the graph's data set, when it can be
    described offline (else the stated fallbacks, with a note)."""
    from layerloom.graph import analyze

    from .data_choice import graph_data_context
    return analyze(doc, graph_data_context(doc)[0])


def cmd_check(args) -> int:
    doc = _load(args.file)
    result = _analyze(doc)
    for d in result.diagnostics:
        where = d.block or "graph"
        stream = sys.stdout
        note = {"warning": " (warning)", "info": " (note)"}.get(d.severity, "")
        print(f"{where}: {d.message}{note}", file=stream)
    if result.errors:
        print(f"{len(result.errors)} error(s) in {args.file}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK ({len(doc.blocks)} blocks, {result.total_params:,} parameters)")
    return 0


def cmd_summary(args) -> int:
    from layerloom.graph.summary import summary_json, summary_table
    if args.batch_size is None and (args.optimizer or args.device or args.largest_batch):
        print("layerloom summary: --optimizer, --device and --largest-batch are for the memory estimate: "
              "give --batch-size N as well", file=sys.stderr)
        return 2
    doc = _load(args.file)
    result = _analyze(doc)
    memory = _training_memory(args, doc, result)
    if args.json:
        data = summary_json(doc, result)
        if memory is not None:
            data["training_memory"] = memory
        print(json.dumps(data, indent=2))
    else:
        print(summary_table(doc, result))
        if memory is not None:
            print("\n".join(memory["text"]))
    return 1 if result.errors else 0


def _training_memory(args, doc, result) -> dict | None:
    """`training_memory` for `summary --batch-size N`: the estimate's JSON (+ `largest_batch`)."""
    if args.batch_size is None or result.errors:
        return None
    from .memory import MemoryEstimateError, estimate_training_memory
    from .memory_fit import largest_batch
    from .memory_report import memory_lines
    optimizer, device = args.optimizer or "adam", args.device or "cpu"
    try:
        est = estimate_training_memory(doc, args.batch_size, optimizer, device, analysis=result)
        fits = largest_batch(doc, optimizer, device, analysis=result) if args.largest_batch else None
    except MemoryEstimateError as exc:
        print(f"layerloom summary: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    data = est.to_json()
    if args.largest_batch:
        data["largest_batch"] = fits
    data["text"] = memory_lines(est, fits, asked=args.largest_batch)
    return data


def cmd_code(args) -> int:
    from layerloom.graph import CompileError, generated_code

    from .data_choice import graph_data_context
    doc = _load(args.file)
    try:       # "auto" parameters follow the data set the graph names, as `summary` and training build them
        print(generated_code(doc, graph_data_context(doc)[0]), end="")
    except CompileError as exc:
        print(f"layerloom: {exc}", file=sys.stderr)
        return 1
    return 0


def unknown_command(argv: list[str]) -> str | None:
    """The message for a first word that is neither a command nor a file the desktop app could open (a
    mistyped command: `layerloom chek net.loom.json`), else None. A bare word (no dot, no folder) that is
    not there is no graph file, so it is not handed to the app to fail there."""
    first = argv[0] if argv else ""
    if not first or first.startswith("-") or "." in first or "/" in first or os.sep in first or Path(first).exists():
        return None
    import difflib
    close = difflib.get_close_matches(first, COMMANDS, n=1)
    hint = f"did you mean `layerloom {close[0]}`? " if close else ""
    return (f"layerloom: {first!r} is not a command, nor a graph file here: {hint}"
            f"`layerloom --help` lists the commands")


def _version() -> str:
    from layerloom import __version__      # the installed distribution's version (a test pins the two together)
    return __version__


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The parser; `command` says which commands' own modules to import: "*" all of them, a name
    just that one, None none (the others are then listed by name and help only)."""
    parser = Parser(prog="layerloom", description="Design, check, train and export PyTorch "
                    "networks. Without a command, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    p = sub.add_parser("check", help="check a graph file; list its problems")
    p.add_argument("file")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("summary", help="table of shapes, parameters, MACs and FLOPs")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="also estimate peak training memory at this batch size")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"),
                   help="optimizer for the memory estimate (default adam)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="device for the memory estimate (default cpu)")
    p.add_argument("--largest-batch", action="store_true",
                   help="also find the largest batch whose estimate fits the device's available memory")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("code", help="print the generated PyTorch code")
    p.add_argument("file")
    p.set_defaults(func=cmd_code)
    import importlib
    wanted = {m for name, m in COMMAND_MODULES.items() if command in ("*", name)}
    for module in dict.fromkeys(COMMAND_MODULES.values()):
        if module in wanted:
            importlib.import_module(f"{__package__}.{module}").add_parser(sub)
        else:
            for name in (n for n, m in COMMAND_MODULES.items() if m == module):
                sub.add_parser(name, help=COMMAND_HELP.get(name, ""))
    for name, command_parser in sub.choices.items():
        if name != "import":          # every other command loads a graph (a file, or a run's copy of one)
            add_trust_code(command_parser)
    return parser


def run(argv: list[str]) -> int:
    for stream in (sys.stdout, sys.stderr):     # a terminal that cannot show a graph's name gets \u escapes, not a crash
        if callable(getattr(stream, "reconfigure", None)):
            stream.reconfigure(errors="backslashreplace")
    try:
        return _run(argv)
    except (ImportError, OSError) as exc:     # PyTorch or another library a command needs is broken or missing
        from layerloom.graph.lazy_torch import LibraryUnavailable, explained
        problem = exc if isinstance(exc, LibraryUnavailable) else explained(exc)
        if problem is None:
            raise
        print(f"layerloom: {problem}", file=sys.stderr)
        return 1


def _run(argv: list[str]) -> int:
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMAND_MODULES else None)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.error("give a command (layerloom --help lists them)")
    if getattr(args, "trust_code", False):
        from layerloom.graph.opaque import trust_code_for_run
        trust_code_for_run()
    from . import stop_signals
    stop_signals.forget()
    try:
        return args.func(args)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):     # stderr may be gone with the terminal
            print(f"\nlayerloom {args.command}: interrupted ({stop_signals.words()})", file=sys.stderr)
        return 130
    except OSError as exc:     # a path the system refused (a file in the way, permissions, a full disk)
        from layerloom.graph.lazy_torch import explained     # or a shared library a command imports
        print(f"layerloom {args.command}: {explained(exc) or os_error_text(exc)}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as exc:
        message = out_of_memory(exc)
        if message is None:
            raise
        print(f"layerloom {args.command}: {message}", file=sys.stderr)
        return 1
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError":    # safetensors' own I/O error (a full disk): not an OSError
            raise
        print(f"layerloom {args.command}: cannot write or read a weights file: {' '.join(str(exc).split())}",
              file=sys.stderr)
        return 1
