"""`layerloom sweep` and `layerloom sweep-worker`: hyperparameter and architecture sweeps.

    layerloom sweep FILE [--param PATH=SPEC ...] [--strategy grid|random|tpe] [--trials N]
                         [--workers W] [--epochs N] [--storage URL] [--out DIR]
    layerloom sweep-worker --storage URL [--study NAME] [--workers W] [--out DIR]

The sweep's folder is DIR/<name>/ (DIR defaults to `sweeps`): the Optuna journal, results.json,
trials/ (each trial's graph) and runs/ (each trial's ordinary run folder). Running the same
command again resumes the sweep. Ctrl-C (or SIGTERM) stops every trial cleanly (each keeps a checkpoint);
a second one ends them at once (their values run again when the sweep resumes).
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import stop_signals
from .cli import can_write, load_or_say


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a hyperparameter / architecture sweep", allow_abbrev=False,
                       description="Run the sweep in FILE's sweep section; options add to or override it.")
    p.add_argument("file", help="a .loom.json graph")
    p.add_argument("--param", action="append", default=[], metavar="PATH=SPEC",
                   help="a parameter to sweep, e.g. training.lr=log:1e-4:1e-1, blocks.fc1.params.out_features="
                        "int:32:128:32, training.batch_size=choice:32,64 (repeatable)")
    p.add_argument("--strategy", choices=("grid", "random", "tpe"),
                   help="how trials are chosen (default: the sweep section's, else tpe)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="the trial budget, up to 100,000 (0: the grid's size with grid, else 20)")
    p.add_argument("--workers", type=int, metavar="N", help="trials run at once on this machine, 1 to 256 (more than "
                                                           "its cores take turns on them)")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per trial (default: the graph's)")
    p.add_argument("--objective", choices=("val_accuracy", "val_loss"),
                   help="what the sweep optimises (default val_accuracy)")
    p.add_argument("--seed", type=int, metavar="N", help="the sampler's seed")
    p.add_argument("--name", help="the sweep's name (default: the sweep section's, or the graph's)")
    p.add_argument("--storage", metavar="URL", help="an Optuna RDB URL (postgresql://...) or a journal file "
                                                    "(journal:PATH) shared with sweep-workers")
    p.add_argument("--out", default="sweeps", metavar="DIR",
                   help="folder that holds the sweep folders (default: sweeps)")
    p.set_defaults(func=cmd_sweep)
    w = sub.add_parser("sweep-worker", help="run trials of a sweep kept in a shared Optuna storage",
                       allow_abbrev=False,
                       description="Join a sweep started with `layerloom sweep --storage URL`: ask the shared "
                                   "study for trials and run them here until the budget is spent.")
    w.add_argument("--storage", required=True, metavar="URL", help="the same URL the sweep was started with")
    w.add_argument("--study", metavar="NAME", help="the sweep's name, when the storage holds several")
    w.add_argument("--workers", type=int, metavar="N", help="trials run at once on this machine, 1 to 256 (default: "
                                                           "the sweep's)")
    w.add_argument("--out", default="sweeps", metavar="DIR", help="folder for this machine's copy of the sweep folder")
    w.set_defaults(func=cmd_sweep_worker)


def _print_event(e: dict) -> None:
    t = e["type"]
    if t == "trial_started":
        values = ", ".join(f"{k}={_short(v)}" for k, v in e["params"].items())
        print(f"trial {e['trial']}: {values}", flush=True)
    elif t == "trial_pruned":
        print(f"trial {e['trial']}: pruned after epoch {e['epoch']}", flush=True)
    elif t == "trial_failed":
        print(f"trial {e['trial']}: failed: {e['message']}", flush=True)
    elif t == "trial_finished":
        print(f"trial {e['trial']}: {e['state']}", flush=True)
    elif t == "recovered":
        print(f"resuming: trial(s) {', '.join(map(str, e['trials']))} were cut off and are queued again", flush=True)


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _report(rows, spec, study) -> None:
    from .sweeps.results import best_row, importance, table
    paths = list(spec.params)
    headers, body = table(rows, paths)
    cells = [headers] + [["" if v is None else _short(v) for v in row] for row in body]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    for r in cells:
        print("  ".join(str(v).rjust(w) for v, w in zip(r, widths)))
    for r in rows:
        if r["state"] == "failed" and r["message"]:
            print(f"trial {r['number']} failed: {r['message'].splitlines()[-1]}")
    best = best_row(rows, spec.direction)
    if best:
        values = ", ".join(f"{k}={_short(v)}" for k, v in best["params"].items())
        print(f"best: trial {best['number']}, final {spec.objective} {best['value']:.4f} with {values}")
    imp = importance(study)
    if imp:
        print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in imp.items()))


def _run(runner, spec, study, folder, command: str = "sweep") -> int:
    """Run the trials and print the table; 130 when Ctrl-C stopped the sweep (as `train` does), 143 when SIGTERM
    did, even if some trials completed, so a script does not take a stopped sweep for a finished one."""
    from .sweeps.spec import SweepError
    interrupted = []

    def on_sigint(signum, frame):     # SIGTERM (kill, a service manager, a logout) stops the sweep as Ctrl-C does
        interrupted.append(signum)
        if len(interrupted) == 1:
            print("\nStopping the sweep: every running trial stops cleanly and keeps a checkpoint "
                  "(Ctrl-C again to abort now)...", file=sys.stderr, flush=True)
            runner.stop()
        elif len(interrupted) == 2:
            print("\nAborting: the running trials are ended now; their values are tried again when the sweep "
                  "resumes...", file=sys.stderr, flush=True)
            runner.abort()

    try:
        with stop_signals.handled(on_sigint):
            rows = runner.run()
            _report(rows, spec, study)   # a Ctrl-C while the table prints is one more press, not a traceback
            print(f"Sweep folder: {folder} (results.json)")
    except SweepError as exc:            # the storage refused the trials' values (another program's ranges)
        print(f"layerloom {command}: {exc}", file=sys.stderr)
        return 2
    if interrupted:
        return 128 + int(interrupted[0])     # 130 after Ctrl-C, 143 after SIGTERM, as a shell reports them
    return 0 if any(r["state"] == "complete" for r in rows) else 1


def cmd_sweep(args) -> int:
    from .sweeps.coordinator import SweepRunner
    from .sweeps.spec import SweepError, parse_param_flags, parse_section
    from .sweeps.study import create_study, open_storage
    from .sweeps import forked
    from .sweeps.trial import check_graph, data_problem, refused_for_data
    if not can_write("sweep", "--out", args.out):
        return 2
    doc = load_or_say(args.file)
    if doc is None:
        return 2
    try:
        overrides = {"params": parse_param_flags(args.param), "strategy": args.strategy, "trials": args.trials,
                     "workers": args.workers, "epochs": args.epochs, "objective": args.objective,
                     "seed": args.seed, "name": args.name}
        spec = parse_section(doc, None, overrides)
        check_graph(doc, spec.params)
        forked.prepare()                     # the trials' fork server imports PyTorch while the data set loads
        problem = data_problem(doc)          # once, before the sweep's folder or any trial exists
        if problem:
            raise SweepError(refused_for_data(problem))
        folder = Path(args.out) / spec.name
        study = create_study(doc, spec, open_storage(args.storage, folder))
    except SweepError as exc:
        print(f"layerloom sweep: {exc}", file=sys.stderr)
        return 2
    print(f"Sweep {spec.name}: {spec.describe()}, objective {spec.objective}", flush=True)
    _warn_workers("sweep", min(spec.workers, spec.budget()))
    runner = SweepRunner(study, doc, spec, folder, callback=_print_event, data_checked=True)
    return _run(runner, spec, study, folder)


def _warn_workers(command: str, workers: int) -> None:
    from .sweeps.coordinator import workers_warning
    warning = workers_warning(workers)
    if warning:
        print(f"layerloom {command}: warning: {warning}", file=sys.stderr, flush=True)


def _journal_path(url: str) -> Path | None:
    """The file of a journal storage (`journal:PATH`, or a plain path), None for a database URL."""
    if url.startswith("journal:"):
        return Path(url[len("journal:"):]).expanduser()
    return None if "://" in url else Path(url).expanduser()


def cmd_sweep_worker(args) -> int:
    from .sweeps.coordinator import SweepRunner
    from .sweeps.spec import MAX_WORKERS, SweepError
    from .sweeps import forked
    from .sweeps.study import load_study, open_storage
    from .sweeps.trial import data_problem, refused_for_data
    if not can_write("sweep-worker", "--out", args.out):
        return 2
    journal = _journal_path(args.storage)
    if journal is not None and not journal.is_file():   # opening it would make an empty one
        print(f"layerloom sweep-worker: --storage {args.storage}: there is no journal file at {journal}; start "
              f"the sweep first with layerloom sweep FILE --storage {args.storage}", file=sys.stderr)
        return 2
    try:
        storage = open_storage(args.storage, Path(args.out))
        study, doc, spec = load_study(storage, args.study)
        forked.prepare()
        problem = data_problem(doc)          # this machine's copy of the data set, before any trial
        if problem:
            raise SweepError(refused_for_data(problem, worker=True))
    except SweepError as exc:
        print(f"layerloom sweep-worker: {exc}", file=sys.stderr)
        return 2
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        print(f"layerloom sweep-worker: --workers must be a whole number from 1 to {MAX_WORKERS}, not "
              f"{args.workers}", file=sys.stderr)
        return 2
    folder = Path(args.out) / spec.name
    print(f"Worker for sweep {spec.name}: {spec.budget()} trials in all", flush=True)
    _warn_workers("sweep-worker", min(args.workers or spec.workers, spec.budget()))
    runner = SweepRunner(study, doc, spec, folder, workers=args.workers, callback=_print_event, data_checked=True)
    return _run(runner, spec, study, folder, "sweep-worker")
