"""`layerloom bench`: inference latency of a run's model in every backend it deploys to."""
from __future__ import annotations

import json
import sys

from .latency import KEYS       # the formats' names, as the Benchmark tab's and `layerloom export -f`'s

MAX_THREADS = 256      # as for training (runtime/config.py): more than any machine's cores
MAX_BATCH = 65_536     # training's largest batch (runtime/config.py)


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="inference latency (median, p90) and throughput at batch 1 and 32: torch, "
                                     ".pt2, onnxruntime fp32 and int8 (and CUDA autocast when present)")
    p.add_argument("run", help="a run folder, a checkpoint folder or a .loom.json graph (untrained)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for every backend (default: "
                                                          "Layerloom's choice for this machine)")
    p.add_argument("--batch", type=int, action="append", dest="batches", metavar="N",
                   help="batch size to time (repeatable; default 1 and 32)")
    p.add_argument("--repeats", type=int, default=30, help="timed calls per measurement (default 30, fewer for "
                                                           "a slow model: each stops after about 1.5 s)")
    p.add_argument("--format", "-f", action="append", dest="formats", metavar="FORMAT", choices=KEYS,
                   help=f"a format to time (repeatable; default all, and CUDA when present): {', '.join(KEYS)}")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from .checkpoints import CheckpointError
    from .data import DataError
    from .export import ExportError
    from .latency import benchmark, report_table

    if not 0 <= args.threads <= MAX_THREADS or args.repeats < 1 \
            or any(not 1 <= b <= MAX_BATCH for b in args.batches or ()):
        print(f"layerloom bench: --threads must be 0 (Layerloom's choice) to {MAX_THREADS}, --batch 1 to "
              f"{MAX_BATCH:,} and --repeats at least 1", file=sys.stderr)
        return 2
    progress = None if args.json else (lambda name: print(f"timing {name}...", file=sys.stderr, flush=True))
    try:
        report = benchmark(args.run, tuple(args.batches or (1, 32)), args.threads or None, args.repeats,
                           progress=progress, formats=set(args.formats) if args.formats else None)
    except (ExportError, CheckpointError, DataError) as exc:   # (DataError: a sample unreadable when it is read)
        print(f"layerloom bench: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else report_table(report))
    return 0
