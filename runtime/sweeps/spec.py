"""What a sweep explores: the graph file's `sweep` section and `--param PATH=SPEC`, validated.

    "sweep": {
      "name": "lenet-lr",                     the folder sweeps/<name>/ and the Optuna study's name
      "params": {"training.lr": "log:1e-4:1e-1", "blocks.fc1.params.out_features": "int:32:128:32"},
      "strategy": "tpe",                      grid, random or tpe
      "trials": 20,                           the budget (grid: defaults to the grid's size)
      "objective": "val_accuracy",            or val_loss (minimised)
      "pruning": {"warmup_epochs": 1, "startup_trials": 2},   median pruning; false turns it off
      "workers": 2,                           trials run at once on this machine
      "seed": 0,                              the sampler's seed and every trial's training seed
      "epochs": 3                             optional: overrides training.epochs for the trials
    }

A parameter is named by its path: `training.<setting>` or `blocks.<block id>.params.<name>`.
SPEC is `log:LOW:HIGH`, `uniform:LOW:HIGH`, `int:LOW:HIGH[:STEP]` or `choice:A,B,C`.
Every problem raises SweepError with a one-line message that names the key and what fits.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields

from layerloom.graph.blocks import get_kind
from layerloom.graph.params import ParamError

from ..config import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig

STRATEGIES = ("grid", "random", "tpe")
OBJECTIVES = {"val_accuracy": "maximize", "val_loss": "minimize"}
SECTION_KEYS = ("name", "params", "strategy", "trials", "objective", "pruning", "workers", "seed", "epochs")
PRUNING_KEYS = ("warmup_epochs", "startup_trials")
# training settings a sweep may vary (the rest are objects, devices or the seed itself)
TRAINING_PATHS = tuple(f.name for f in fields(TrainConfig)
                       if f.name not in ("dataset", "dataset_options", "augment", "device", "seed", "threads"))
MAX_GRID = 10_000
MAX_WORKERS = 256                  # trials at once on one machine: the sweep section, both commands, the panel


class SweepError(ValueError):
    """A sweep definition that cannot be used; the message says which part and what fits."""


@dataclass(frozen=True)
class Distribution:
    kind: str                  # log, uniform, int, choice
    low: float | None = None
    high: float | None = None
    step: int | None = None
    choices: tuple = ()

    @property
    def is_log(self) -> bool:
        return self.kind == "log"

    def spec(self) -> str:
        if self.kind == "choice":
            return "choice:" + ",".join(_format_value(c) for c in self.choices)
        if self.kind == "int":
            return f"int:{self.low}:{self.high}:{self.step}"
        return f"{self.kind}:{_end_text(self.low)}:{_end_text(self.high)}"

    def to_optuna(self):
        import optuna.distributions as d
        if self.kind == "choice":
            return d.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), step=int(self.step))
        return d.FloatDistribution(float(self.low), float(self.high), log=self.is_log)

    def suggest(self, trial, name: str):
        """This parameter's value for an Optuna trial (a queued trial gets its queued value)."""
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step))
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.is_log)

    def grid_values(self) -> list:
        return list(self._grid())

    def grid_count(self) -> int:
        """How many values grid_values has, without listing them (a range can be huge)."""
        return len(self._grid())

    def _grid(self):
        if self.kind == "choice":
            return self.choices
        if self.kind == "int":
            return range(int(self.low), int(self.high) + 1, int(self.step))
        raise SweepError(f"a grid needs a list of values, but {self.spec()} is a continuous range: use "
                         "choice:A,B,C or int:LOW:HIGH:STEP, or the random or tpe strategy")

    def edge_values(self) -> list:
        """Values that must all be valid: the ends of a range, or every choice."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high) - (int(self.high) - int(self.low)) % int(self.step)]
        return [self.low, self.high]


def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise SweepError(f"{what} must be a number, not {text!r}") from None
    if not math.isfinite(v):
        raise SweepError(f"{what} must be a finite number, not {text!r}")
    return v


def _choice_value(text: str):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if t.lower() == "null":      # what _format_value writes for None; "none" is a word some choices use
        return None
    if re.fullmatch(r"[+-]?\d+", t):
        return int(t)
    try:
        v = float(t)
        if math.isfinite(v):
            return v
    except ValueError:
        pass
    return t


def _end_text(x: float) -> str:
    """A range's end as text that parses back to the same number: 16, 0.0012345678, 1e-05."""
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _format_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return repr(v) if isinstance(v, float) else str(v)      # repr: parses back to the same float, and a float


def parse_spec(text) -> Distribution:
    """`log:1e-4:1e-1`, `uniform:0:0.5`, `int:8:64:8`, `choice:16,32,64` -> Distribution."""
    if not isinstance(text, str) or ":" not in text:
        raise SweepError(f"{text!r} is not a value range: write log:LOW:HIGH, uniform:LOW:HIGH, "
                         "int:LOW:HIGH:STEP or choice:A,B,C")
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "choice":
        items = [s for s in rest.split(",")]
        if not rest.strip() or any(not s.strip() for s in items):
            raise SweepError(f"{text!r}: choice needs values separated by commas, e.g. choice:16,32,64")
        values = tuple(_choice_value(s) for s in items)
        if len(set(map(repr, values))) != len(values):
            raise SweepError(f"{text!r}: a value appears twice in the choice")
        return Distribution("choice", choices=values)
    parts = rest.split(":")
    if kind in ("log", "uniform"):
        if len(parts) != 2:
            example = "1e-4:1e-1" if kind == "log" else "0:0.5"
            raise SweepError(f"{text!r}: write {kind}:LOW:HIGH, e.g. {kind}:{example}")
        low, high = (_number(p, f"{kind}'s {w}") for p, w in zip(parts, ("low end", "high end")))
        if not low < high:
            raise SweepError(f"{text!r}: the low end must be smaller than the high end")
        if kind == "log" and low <= 0:
            raise SweepError(f"{text!r}: a log range must be above 0; use uniform:{parts[0]}:{parts[1]} instead")
        return Distribution(kind, low, high)
    if kind == "int":
        if len(parts) not in (2, 3):
            raise SweepError(f"{text!r}: write int:LOW:HIGH:STEP, e.g. int:8:64:8")
        nums = [_number(p, "int's bounds and step") for p in parts]
        if any(n != int(n) for n in nums):
            raise SweepError(f"{text!r}: int bounds and step must be whole numbers")
        low, high, step = int(nums[0]), int(nums[1]), int(nums[2]) if len(nums) == 3 else 1
        if step < 1:
            raise SweepError(f"{text!r}: the step must be at least 1")
        if not low < high:
            raise SweepError(f"{text!r}: the low end must be smaller than the high end")
        return Distribution("int", low, high, step)
    raise SweepError(f"{text!r}: unknown range type {kind!r}; use log, uniform, int or choice")


def check_path(doc, path: str) -> None:
    """Refuse a parameter path that names nothing in this graph, or a value the parameter never takes."""
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) == 2 and parts[0] == "training":
        if parts[1] not in TRAINING_PATHS:
            raise SweepError(f"{path}: not a training setting a sweep can vary; use one of "
                             + ", ".join("training." + p for p in TRAINING_PATHS))
        return
    if len(parts) == 4 and parts[0] == "blocks" and parts[2] == "params":
        block_id, name = parts[1], parts[3]
        if block_id not in doc.blocks:
            raise SweepError(f'{path}: the graph has no block "{block_id}"')
        kind = get_kind(doc.blocks[block_id].kind)
        if name not in kind.param_names:
            raise SweepError(f'{path}: {kind.name} has no parameter "{name}" (it has: '
                             f'{", ".join(kind.param_names) or "none"})')
        return
    raise SweepError(f"{path!r} is not a parameter path: write training.SETTING (e.g. training.lr) or "
                     "blocks.BLOCK_ID.params.NAME (e.g. blocks.fc1.params.out_features)")


def check_values(doc, path: str, dist: Distribution) -> None:
    """The ends of a range (every choice) must be values the setting or block parameter accepts."""
    parts = path.split(".")
    if dist.kind in ("log", "uniform") and _whole_numbers(doc, parts):
        raise SweepError(f"{path}={dist.spec()}: {parts[-1]} takes whole numbers, which a {dist.kind} range does not "
                         f"give: use int:{_int_text(math.ceil(dist.low))}:{_int_text(math.floor(dist.high))}[:STEP], or choice:A,B,C for "
                         "values such as powers of two")
    for value in dist.edge_values():
        if parts[0] == "training":
            try:
                TrainConfig.from_sources(doc.training, {parts[1]: value})
            except ValueError as exc:
                raise SweepError(f"{path}={dist.spec()}: {exc}") from None
        else:
            param = get_kind(doc.blocks[parts[1]].kind).param(parts[3])
            if param.type in ("shape", "json", "text"):
                raise SweepError(f"{path}: {parts[3]} is a {'list' if param.type == 'shape' else param.type}, which "
                                 "a sweep cannot vary; sweep a number, a choice or a switch instead")
            try:
                param.check(value)
            except ParamError as exc:
                raise SweepError(f"{path}={dist.spec()}: {_format_value(value)} is refused: {exc}") from None


def _whole_numbers(doc, parts: list) -> bool:
    """Whether the setting or block parameter at a (checked) path takes only whole numbers."""
    if parts[0] == "training":
        return TrainConfig.__dataclass_fields__[parts[1]].type in (int, "int")
    return get_kind(doc.blocks[parts[1]].kind).param(parts[3]).type == "int"


def _int_text(x: int) -> str:
    return str(x) if abs(x) < 10**15 else "N"


@dataclass
class SweepSpec:
    name: str
    params: dict = field(default_factory=dict)       # path -> Distribution
    strategy: str = "tpe"
    trials: int = 0                                   # 0: the grid's size (grid) or 20
    objective: str = "val_accuracy"
    pruning: dict | None = field(default_factory=lambda: {"warmup_epochs": 1, "startup_trials": 2})
    workers: int = 1
    seed: int = 0
    epochs: int | None = None

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    def budget(self) -> int:
        """The trials to run: `trials` (0: 20, or the grid's size with grid), but never more than the points a
        space of choices and whole numbers has: every trial trains with the same seed, so the same point
        again would only train the same network again."""
        size = self.finite_size()
        if self.strategy == "grid":
            return min(self.trials, size) if self.trials else size
        wanted = self.trials or 20
        return wanted if size is None else min(wanted, size)

    def finite_size(self) -> int | None:
        """How many points the space has, or None when a parameter is a continuous range."""
        if any(d.kind not in ("choice", "int") for d in self.params.values()):
            return None
        return self.grid_size()

    @property
    def sampling(self) -> str:
        """Where the trials' values come from: the strategy, but the grid when the budget covers every point
        of the space (random or TPE would draw some points twice and miss others)."""
        size = self.finite_size()
        return "grid" if size is not None and self.budget() == size else self.strategy

    def describe(self) -> str:
        """"tpe, 20 trials, 2 at once" for the start of a sweep."""
        n = self.budget()
        how = self.strategy if self.sampling == self.strategy else \
            f"every one of the {n} value combinations once (a grid; {self.strategy} would repeat some)" if n > 1 \
            else "the one value combination there is"
        return f"{how}, {n} trial{'s' if n != 1 else ''}, {self.workers} at once"

    def grid_size(self) -> int:
        n = 1
        for dist in self.params.values():
            n *= dist.grid_count()
        return n

    def search_space(self) -> dict:
        return {path: dist.grid_values() for path, dist in self.params.items()}

    def to_section(self) -> dict:
        """The JSON form written back to a graph file's `sweep` section."""
        out = {k: v for k, v in asdict(self).items() if k != "params"}
        out["params"] = {p: d.spec() for p, d in self.params.items()}
        if out["epochs"] is None:
            del out["epochs"]
        return out


def _whole(section: dict, key: str, low: int, high: int, default, label: str | None = None):
    v = section.get(key, default)
    if v is None and default is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or not low <= v <= high:
        raise SweepError(f"{label or 'sweep.' + key} must be a whole number from {low:,} to {high:,}, not {v!r}")
    return int(v)


def sweep_name(name, label: str = "sweep.name") -> str:
    """A sweep's name as its folder is named: runs of other characters become "-". SweepError when it has no
    letter or digit, or is longer than 80 characters."""
    if not isinstance(name, str) or not re.search(r"[A-Za-z0-9]", name) or len(name) > 80:
        raise SweepError(f"{label} must be a short name with letters or digits (it names the sweep's folder)")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")


def preferred_name(doc) -> str:
    """The name a sweep of `doc` takes unless told otherwise: its sweep section's, else "<graph>-sweep"."""
    try:
        return sweep_name((doc.sweep or {}).get("name") or f"{doc.name}-sweep")
    except SweepError:
        return "sweep"


def free_name(doc, base) -> str:
    """The graph's sweep name (its sweep section's, else "<graph>-sweep"), or with -2, -3, ... added when a
    sweep of that name already has a folder in `base`: a name that starts a new sweep beside the old ones."""
    name = preferred_name(doc)
    stem, n = name[:75], 1
    while (base / name).exists():
        n += 1
        name = f"{stem}-{n}"
    return name


def parse_section(doc, section: dict | None = None, overrides: dict | None = None,
                  labels: dict | None = None) -> SweepSpec:
    """Validate `section` (default: the graph's own `sweep` section) plus overrides (CLI flags); a message names
    a setting by its label in `labels` where given (the Experiments panel's fields), else as typed."""
    section = dict(doc.sweep if section is None else section)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    extra_params = overrides.pop("params", {}) or {}
    section.update(overrides)
    unknown = sorted(set(section) - set(SECTION_KEYS))
    if unknown:
        raise SweepError(f'sweep has no setting "{unknown[0]}"; its settings are {", ".join(SECTION_KEYS)}')
    def said(key: str) -> str:          # a command-line flag or a panel's field is named as the person sees it
        return (labels or {}).get(key) or (f"--{key}" if key in overrides else f"sweep.{key}")
    name = sweep_name(section.get("name") or f"{doc.name}-sweep", said("name"))
    raw = section.get("params", {})
    if not isinstance(raw, dict):
        raise SweepError("sweep.params must be an object of PATH: SPEC, e.g. {\"training.lr\": \"log:1e-4:1e-1\"}")
    raw = {**raw, **extra_params}
    if not raw:
        raise SweepError("the sweep varies nothing: add parameters to the sweep section or give "
                         "--param PATH=SPEC (e.g. --param training.lr=log:1e-4:1e-1)")
    params = {}
    for path, text in raw.items():
        check_path(doc, path)
        try:
            params[path] = parse_spec(text)
        except SweepError as exc:
            raise SweepError(f"{path}: {exc}") from None
        check_values(doc, path, params[path])
    strategy = section.get("strategy", "tpe")
    if strategy not in STRATEGIES:
        raise SweepError(f"sweep.strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    objective = section.get("objective", "val_accuracy")
    if objective not in OBJECTIVES:
        raise SweepError(f"sweep.objective must be val_accuracy or val_loss, not {objective!r}")
    pruning = section.get("pruning", {"warmup_epochs": 1, "startup_trials": 2})
    if pruning is True:
        pruning = {}
    if pruning is not False and pruning is not None:
        if not isinstance(pruning, dict) or set(pruning) - set(PRUNING_KEYS):
            raise SweepError("sweep.pruning must be false or an object with warmup_epochs and startup_trials")
        pruning = {key: _whole(pruning, key, 0, 10_000, default, f"sweep.pruning.{key}")
                   for key, default in (("warmup_epochs", 1), ("startup_trials", 2))}
    else:
        pruning = None
    spec = SweepSpec(name=name, params=params, strategy=strategy, objective=objective, pruning=pruning,
                     trials=_whole(section, "trials", 0, 100_000, 0, said("trials")),
                     workers=_whole(section, "workers", 1, MAX_WORKERS, 1, said("workers")),
                     seed=_whole(section, "seed", 0, 2**31 - 1, 0, said("seed")),
                     epochs=_whole(section, "epochs", 1, 100_000, None, said("epochs")))
    if spec.epochs is not None and "training.epochs" in params:
        raise SweepError("the sweep varies training.epochs and also sets sweep.epochs (every trial's epochs, which "
                         "would win): remove one of them")
    if strategy == "grid":
        size = 1
        for path, dist in params.items():
            try:
                size *= dist.grid_count()
            except SweepError as exc:
                raise SweepError(f"{path}: {exc}") from None
            if size > MAX_GRID:
                raise SweepError(f"the grid has more than {MAX_GRID:,} points: use fewer values, or random/tpe")
    return spec


def default_spec(param, value) -> str:
    """A starting range for "Sweep this parameter": around the current value of a block parameter."""
    if param.type == "bool":
        return "choice:true,false"
    if param.type == "choice" and param.choices:
        return "choice:" + ",".join(param.choices)
    if param.type == "int" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
        low = max(int(param.min) if param.min is not None else 1, value // 2, 1)
        high = max(low + 1, value * 2)
        if param.max is not None:
            high = min(high, int(param.max))
        step = max(1, (high - low) // 8)
        return f"int:{low}:{high}:{step}" if high > low else f"choice:{value}"
    if param.type == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        high = float(param.max) if param.max is not None else None
        low = float(param.min) if param.min is not None else None
        if 0 <= value <= 1 and high is not None and high <= 1 and (low is None or low <= 0):
            return f"uniform:0:{high:g}"
        if value > 0:     # a log range around the value, inside the parameter's bounds
            return f"log:{value / 10 if low is None else max(value / 10, low):g}:" \
                   f"{value * 10 if high is None else min(value * 10, high):g}"
    return f"choice:{_format_value(value)}"


def parse_param_flags(items, flag: str = "--param") -> dict:
    """`--param PATH=SPEC` items -> {path: spec}; a path given twice is refused (which one was meant?).
    `flag`: how the messages name an item (None: the Experiment panel's Parameters lines)."""
    out = {}
    where, lead = (f"{flag} ", f"{flag} ") if flag else ("Parameters: ", "")
    for item in items or ():
        path, sep, spec = item.partition("=")
        path, spec = path.strip(), spec.strip()
        if not sep or not path or not spec:
            raise SweepError(f"{where}{item.strip()!r}: write PATH=SPEC, e.g. {lead}training.lr=log:1e-4:1e-1")
        if path in out:
            raise SweepError(f"{where}{path} is given twice ({out[path]} and {spec}): keep one of them")
        out[path] = spec
    return out


@dataclass(frozen=True)
class SettingRange:
    """What `default_spec` needs to know about a training setting (a block parameter's schema has it)."""
    type: str
    choices: tuple = ()
    min: float | None = None
    max: float | None = None


def _training_ranges() -> dict[str, SettingRange]:
    return {"optimizer": SettingRange("choice", tuple(OPTIMIZERS)), "loss": SettingRange("choice", tuple(LOSSES)),
            "schedule": SettingRange("choice", tuple(SCHEDULES)), "lr": SettingRange("float", min=0.0, max=10.0),
            "momentum": SettingRange("float", min=0.0, max=0.999), "gamma": SettingRange("float", min=1e-4, max=1.0),
            "weight_decay": SettingRange("float", min=0.0, max=1.0), "alpha": SettingRange("float", min=0.0, max=1.0),
            "temperature": SettingRange("float", min=0.05, max=100.0), "grad_clip": SettingRange("float", min=0.0),
            "epochs": SettingRange("int", min=1), "step_size": SettingRange("int", min=0),
            "max_steps": SettingRange("int", min=0)}


def starting_spec(doc, path: str, value=None) -> str:
    """A starting range for "Sweep this parameter" around a parameter's current value, for the Inspector's
    block parameters and the Training panel's settings alike. `value`: the setting's value on show (the
    Training panel's form); by default the graph's own (the block's parameter, the training section's).
    A training setting with its value given needs no graph (`doc` may be None)."""
    check_path(doc, path)
    parts = path.split(".")
    if parts[0] == "training":
        name = parts[1]
        if value is None:
            value = getattr(TrainConfig.from_dict(doc.training or {}), name)
        if name == "batch_size" and isinstance(value, int) and value > 1:
            return f"choice:{value // 2},{value},{value * 2}"      # batch sizes go in powers of two
        if name == "weight_decay" and not value:
            return "log:1e-05:0.01"                                 # off now: the usual range to try
        kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else \
            "float" if isinstance(value, float) else "str"
        return default_spec(_training_ranges().get(name, SettingRange(kind)), value)
    block = doc.blocks[parts[1]]
    if value is None:
        value = block.full_params()[parts[3]]
    return default_spec(get_kind(block.kind).param(parts[3]), value)
