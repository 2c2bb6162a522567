"""Lessons the app checks: data files of steps, each with a check evaluated on the graph or the runs.

A lesson is a JSON file (`presets/lessons/*.lesson.json`):

    {"format": "layerloom-lesson", "version": 1, "id": "lenet5", "title": "...", "summary": "...",
     "minutes": 8, "start": {"empty": true} | {"preset": "lenet5"} | {"graph": "file.loom.json"}
                           (+ optional "data_file": a text beside the lesson, "training": settings to use),
     "steps": [{"title": "...", "text": "...", "hint": "...", "check": CHECK}, ...]}

A CHECK is data, never code. Each is an object with one key:
    {"all": [CHECK, ...]}                      every one passes
    {"no_errors": true}                        the graph analyses without errors (Input and Output present)
    {"error_at_kind": "Linear"}                some block of that kind has an error
    {"count": {"kind": K, "min": a, "max": b}} how many blocks of kind K
    {"params": {"equals": N}}                  total trainable parameters (or "min"/"max")
    {"same_as_preset": "lenet5"}               the same kinds in the same order and the same parameter count
    {"input_shape": [1, 28, 28]}               the Input block's shape
    {"block_param": {"kind": K, "param": P, "equals": V} | {..., "not_equals": V}}   for every block of K
    {"run": RUN}                               a run exists that matches RUN (below)
    {"smaller_gap": {"run": RUN, "than": RUN}} the best run matching `run` generalises better (its last
                                               val_loss − train_loss is smaller) than every run matching `than`
    {"fact": "viewed_filters"}                 something the person did in the app (recorded by the app)
RUN: {"kinds": [...], "without": [...], "dataset": D, "options": {...}, "augment": true, "finished": true,
      "min_val_accuracy": 0.9, "min_gap": 0.2}

`evaluate(check, context)` returns (passed, detail): the detail says what is still missing, in words.
A context's `since` (seconds since the epoch: when the lesson started) leaves out the runs started before it:
a run trained for another lesson, or in an earlier session, ticks no step of a lesson started later.
`LessonProgress` keeps which steps are done: a step, once passed, stays done (the next step may
undo what it built, as in a lesson that asks for two different fixes of the same graph).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from layerloom.graph import analyze, load_graph
from layerloom.graph.params import AUTO

from .runs import list_runs, read_json, read_metrics

LESSONS_DIR = Path(__file__).resolve().parent.parent / "presets" / "lessons"
MAX_LESSON_BYTES = 256 * 1024


class LessonError(ValueError):
    """A lesson file that cannot be used; the message says which and why."""


@dataclass
class Step:
    title: str
    text: str
    hint: str
    check: dict


@dataclass
class Lesson:
    id: str
    title: str
    summary: str
    minutes: int
    start: dict
    steps: list[Step]
    path: Path

    def start_graph(self):
        """The document the lesson starts from (a fresh copy each time)."""
        from layerloom.graph import GraphDocument
        from layerloom.presets import preset_path
        if self.start.get("preset"):
            doc = load_graph(preset_path(self.start["preset"]))
        elif self.start.get("graph"):
            doc = load_graph(self.path.parent / self.start["graph"])
        else:
            return GraphDocument(self.title)
        if isinstance(self.start.get("training"), dict):
            doc.training = {**doc.training, **self.start["training"]}
        if self.start.get("data_file"):
            training = dict(doc.training)
            training["dataset_options"] = {**training.get("dataset_options", {}),
                                           "path": str(self.path.parent / self.start["data_file"])}
            doc.training = training
        return doc


@dataclass
class RunRecord:
    path: Path
    kinds: set[str]
    config: dict
    summary: dict | None
    last: dict | None            # the last metrics row
    started: float | None = None  # when the run started (seconds since the epoch), from its files

    @property
    def gap(self) -> float | None:
        if not self.last or self.last.get("val_loss") is None or self.last.get("train_loss") is None:
            return None
        return self.last["val_loss"] - self.last["train_loss"]


@dataclass
class LessonContext:
    doc: object = None
    analysis: object = None
    runs: list[RunRecord] = field(default_factory=list)
    facts: set[str] = field(default_factory=set)
    since: float | None = None   # only runs started at or after this time count (None: every run)

    @classmethod
    def build(cls, doc=None, runs_base=None, facts=(), since=None) -> "LessonContext":
        return cls(doc, analyze(doc) if doc is not None else None,
                   load_run_records(runs_base) if runs_base is not None else [], set(facts), since)

    def runs_since(self) -> list[RunRecord]:
        """The runs the run checks may count: those started since the lesson started. The run folder's name
        holds its start to the second, so the lesson's start is taken to the second too."""
        if self.since is None:
            return list(self.runs)
        since = math.floor(self.since)
        return [r for r in self.runs if r.started is not None and r.started >= since]


def run_started(path: Path) -> float | None:
    """When the run in folder `path` started: the time in its name (`YYYYmmdd-HHMMSS-<graph>`, local time, as
    runs.create_run_dir names it), else the time its config.json was written; None if neither can be read."""
    try:
        return time.mktime(time.strptime(path.name[:15], "%Y%m%d-%H%M%S"))
    except (ValueError, OverflowError):
        pass
    try:
        return (path / "config.json").stat().st_mtime
    except OSError:
        return None


def load_run_records(base) -> list[RunRecord]:
    """The runs under `base` that the run checks can read. A run whose files are not well-formed (edited by
    hand, damaged: blocks that are no list, a data option list, an accuracy in words) is left out: the checks
    run after every edit while a lesson is open, and one such run must not stop them."""
    records = []
    for info in list_runs(base):
        try:
            graph = read_json(info.path / "graph.loom.json")
            rows = read_metrics(info.path)
        except (OSError, ValueError):
            continue
        blocks = graph.get("blocks", []) if isinstance(graph, dict) else None
        if not isinstance(blocks, list) or not all(isinstance(b, dict) and isinstance(b.get("kind"), str)
                                                   for b in blocks) or not _well_formed(info.config, info.summary):
            continue
        records.append(RunRecord(info.path, {b["kind"] for b in blocks}, info.config, info.summary,
                                 rows[-1] if rows else None, run_started(info.path)))
    return records


def _well_formed(config: dict, summary: dict | None) -> bool:
    """Are the settings and the summary that _matches reads of the types a trainer writes?"""
    options = config.get("dataset_options")
    if options is not None and not isinstance(options, dict):
        return False
    acc = (summary or {}).get("val_accuracy")
    if acc is not None and (isinstance(acc, bool) or not isinstance(acc, (int, float))
                            or isinstance(acc, float) and not math.isfinite(acc)):
        return False
    return True


# -- loading ------------------------------------------------------------------------------------
def _text(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise LessonError(f"{where}: '{key}' must be a non-empty text")
    return value


def load_lesson(path) -> Lesson:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_LESSON_BYTES:
            raise LessonError(f"{path.name}: a lesson file is at most {MAX_LESSON_BYTES // 1024} KB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, LessonError):
            raise
        raise LessonError(f"{path.name}: not a readable lesson file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != "layerloom-lesson" or data.get("version") != 1:
        raise LessonError(f"{path.name}: not a Layerloom lesson (version 1)")
    steps = []
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise LessonError(f"{path.name}: 'steps' must be a non-empty list")
    for i, s in enumerate(raw_steps, 1):
        where = f"{path.name}, step {i}"
        if not isinstance(s, dict) or not isinstance(s.get("check"), dict):
            raise LessonError(f"{where}: each step needs a title, a text, a hint and a check")
        validate_check(s["check"], where)
        steps.append(Step(_text(s, "title", where), _text(s, "text", where), _text(s, "hint", where), s["check"]))
    start = data.get("start", {"empty": True})
    if not isinstance(start, dict):
        raise LessonError(f"{path.name}: 'start' must be an object")
    for key in ("graph", "data_file"):
        if key in start and (not isinstance(start[key], str) or not start[key] or "/" in start[key]
                             or "\\" in start[key] or start[key].startswith(".")):
            raise LessonError(f"{path.name}: 'start.{key}' must be a file name beside the lesson")
    minutes = data.get("minutes", 10)
    return Lesson(_text(data, "id", path.name), _text(data, "title", path.name), _text(data, "summary", path.name),
                  minutes if isinstance(minutes, int) else 10, start, steps, path)


def builtin_lessons() -> list[Lesson]:
    return [load_lesson(p) for p in sorted(LESSONS_DIR.glob("*.lesson.json"))]


CHECKS = ("all", "no_errors", "error_at_kind", "count", "params", "same_as_preset", "input_shape", "block_param",
          "run", "smaller_gap", "fact")


def validate_check(check, where: str) -> None:
    if not isinstance(check, dict) or len(check) != 1:
        raise LessonError(f"{where}: a check is an object with exactly one of {', '.join(CHECKS)}")
    (name, arg), = check.items()
    if name not in CHECKS:
        raise LessonError(f"{where}: unknown check {name!r}: use one of {', '.join(CHECKS)}")
    if name == "all":
        if not isinstance(arg, list) or not arg:
            raise LessonError(f"{where}: 'all' takes a non-empty list of checks")
        for c in arg:
            validate_check(c, where)


# -- evaluating ---------------------------------------------------------------------------------
def _blocks_of(ctx: LessonContext, kind: str):
    return [b for b in ctx.doc.blocks.values() if b.kind == kind]


def _kind_order(doc, analysis) -> list[str]:
    return [doc.blocks[b].kind for b in analysis.order]


def _matches(run: RunRecord, spec: dict) -> str | None:
    """None when the run matches the spec, else what differs."""
    if not set(spec.get("kinds", ())) <= run.kinds:
        return f"a network with {', '.join(spec['kinds'])}"
    if set(spec.get("without", ())) & run.kinds:
        return f"a network without {', '.join(spec['without'])}"
    if spec.get("dataset") and run.config.get("dataset") != spec["dataset"]:
        return f"the {spec['dataset']} data set"
    for k, v in spec.get("options", {}).items():
        if (run.config.get("dataset_options") or {}).get(k) != v:
            return f"the data option {k} = {v}"
    if spec.get("augment") and not run.config.get("augment"):
        return "augmentation turned on"
    if spec.get("finished", True) and not (run.summary and run.summary.get("status") == "finished"):
        return "a run that trained to the end"
    acc = (run.summary or {}).get("val_accuracy")
    if "min_val_accuracy" in spec and (acc is None or acc < spec["min_val_accuracy"]):
        return f"validation accuracy of at least {spec['min_val_accuracy']:.0%}"
    if "min_gap" in spec and (run.gap is None or run.gap < spec["min_gap"]):
        return f"a validation loss at least {spec['min_gap']} above the training loss (overfitting)"
    return None


def evaluate(check: dict, ctx: LessonContext) -> tuple[bool, str]:
    (name, arg), = check.items()
    if name == "all":
        for c in arg:
            ok, detail = evaluate(c, ctx)
            if not ok:
                return False, detail
        return True, "done"
    if name == "fact":
        return (arg in ctx.facts, "done" if arg in ctx.facts else "not done yet in the app")
    if name in ("run", "smaller_gap"):
        return _evaluate_runs(name, arg, ctx)
    if ctx.doc is None:
        return False, "open a graph"
    result = ctx.analysis
    if name == "no_errors":
        kinds = {b.kind for b in ctx.doc.blocks.values()}
        if not {"Input", "Output"} <= kinds:
            return False, "the graph needs an Input and an Output"
        if result.ok:
            return True, "done"
        first = result.errors[0]
        at = f" at {first.block}" if first.block else ""
        left = f"1 problem left{at}" if len(result.errors) == 1 else \
            f"{len(result.errors)} problems left, the first{at}"
        return False, f"{left}: {first.message}"
    if name == "error_at_kind":
        bad = [d for d in result.errors if d.block and ctx.doc.blocks.get(d.block) and
               ctx.doc.blocks[d.block].kind == arg]
        return (bool(bad), f"{bad[0].block} has an error" if bad else f"no {arg} block has an error")
    if name == "count":
        n = len(_blocks_of(ctx, arg["kind"]))
        lo, hi = arg.get("min", 0), arg.get("max", 10 ** 9)
        want = f"exactly {lo}" if lo == hi else f"at least {lo}" if hi == 10 ** 9 else f"{lo} to {hi}"
        return (lo <= n <= hi, f"{want} {arg['kind']} block(s); the graph has {n}")
    if name == "params":
        total = result.total_params
        ok = (total == arg["equals"]) if "equals" in arg else \
            arg.get("min", 0) <= total <= arg.get("max", float("inf"))
        want = f"{arg['equals']:,}" if "equals" in arg else "the range asked for"
        return ok, f"{total:,} parameters; the lesson expects {want}"
    if name == "same_as_preset":
        from layerloom.presets import preset_path
        ref = load_graph(preset_path(arg))
        ref_result = analyze(ref)
        same_kinds = _kind_order(ctx.doc, result) == _kind_order(ref, ref_result)
        same_params = result.ok and result.total_params == ref_result.total_params
        if same_kinds and same_params:
            return True, "done"
        if not same_kinds:
            return False, (f"the blocks, in order, should be: {' → '.join(_kind_order(ref, ref_result))}")
        return False, f"{result.total_params:,} parameters; {ref.name} has {ref_result.total_params:,}"
    if name == "input_shape":
        inputs = _blocks_of(ctx, "Input")
        shape = inputs[0].full_params()["shape"] if inputs else None
        return (list(shape or []) == list(arg), f"the Input's shape should be {'×'.join(map(str, arg))}")
    if name == "block_param":
        blocks = _blocks_of(ctx, arg["kind"])
        if not blocks:
            return False, f"there is no {arg['kind']} block"
        for b in blocks:
            value = b.full_params().get(arg["param"])
            value = value[0] if isinstance(value, list) and len(set(value)) == 1 else value
            if "equals" in arg and value != arg["equals"]:
                return False, f"{b.id}.{arg['param']} is {value}, the step asks for {arg['equals']}"
            if "not_equals" in arg and (value == arg["not_equals"] or value == AUTO and arg["not_equals"] == AUTO):
                return False, f"{b.id}.{arg['param']} is still {value}"
        return True, "done"
    return False, f"unknown check {name}"


def _evaluate_runs(name, arg, ctx) -> tuple[bool, str]:
    spec = arg if name == "run" else arg["run"]
    runs = ctx.runs_since()
    matching = [r for r in runs if _matches(r, spec) is None]
    if not matching:
        reasons = [_matches(r, spec) for r in runs]
        none = "no run since this lesson started" if ctx.runs and ctx.since is not None else "no runs yet"
        return False, ("train a run: " + (reasons[0] if reasons else none))
    if name == "run":
        return True, "done"
    gaps = [r.gap for r in matching if r.gap is not None]
    others = [r.gap for r in runs if _matches(r, arg["than"]) is None and r.gap is not None]
    if not gaps or not others:
        return False, "train both runs to the end to compare them"
    ok = min(gaps) < min(others)
    return ok, (f"gap {min(gaps):.3f} against {min(others):.3f}: " +
                ("it generalises better" if ok else "not better yet"))


class LessonProgress:
    """Which steps are done; a passed step stays done. `update` returns the steps newly done."""

    def __init__(self, lesson: Lesson, done: int = 0):
        self.lesson = lesson
        self.done = max(0, min(done, len(lesson.steps)))
        self.detail = ""

    def reset(self) -> None:
        """Back to the first step, to do the lesson again."""
        self.done = 0
        self.detail = ""

    @property
    def finished(self) -> bool:
        return self.done >= len(self.lesson.steps)

    @property
    def current(self) -> Step | None:
        return None if self.finished else self.lesson.steps[self.done]

    def update(self, ctx: LessonContext) -> list[int]:
        newly = []
        while not self.finished:
            ok, self.detail = evaluate(self.current.check, ctx)
            if not ok:
                break
            newly.append(self.done)
            self.done += 1
        return newly
