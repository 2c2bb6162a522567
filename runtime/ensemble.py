"""Ensembles: several trained runs with the same input and outputs, averaged.

    members = load_members(["runs/a", "runs/b", "runs/c"])
    report = evaluate(members)                 # each member's validation accuracy and the ensemble's
    export_ensemble(members, "exports/ens", ["onnx", "project"])

The ensemble's output is the mean of the members' softmax probabilities (not logits). It exports
as one ONNX model (checked with onnxruntime by the ordinary ONNX exporter) and as a project folder
whose model.py builds each member from its own generated code (member_0.py, ...) and averages them;
the weights are one state dict. Generated code is made of literals and Layerloom's own identifiers.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from layerloom.graph.compiler import class_name_for, generated_code
from layerloom.graph.quoting import py_literal, shown

from .batches import gather
from .checkpoints import CheckpointError, latest_checkpoint
from .data import DataError, load_dataset
from .data.transforms import build_transforms
from .evaluation import READ_BATCH, classes_problem
from .export import ExportError, ExportSource, load_source
from .export.formats import export_onnx, staged_folder, write_model_json
from .export.staging import NOTHING, clear_stale_staging, places_problem, publish, staged_export


class EnsembleError(ValueError):
    """Runs that cannot be combined; the message says why."""


class EnsembleDataMissing(EnsembleError):
    """The members' data set does not load here: they cannot be scored, but they can still be exported."""


class Ensemble(nn.Module):
    """The mean of the members' softmax outputs."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        return torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(dim=0)


def load_members(paths) -> list[ExportSource]:
    """Trained runs (or checkpoints) that share input shape, dtype, outputs and classes."""
    paths = list(paths)
    if len(paths) < 2:
        raise EnsembleError("an ensemble needs at least two runs")
    _refuse_repeats(paths)
    try:
        members = [load_source(p) for p in paths]
    except ExportError as exc:
        raise EnsembleError(str(exc)) from None
    first = members[0]
    for path, m in zip(paths, members):
        if not m.trained:
            raise EnsembleError(f"{path} is an untrained graph: give run folders")
        for key, what in (("input_shape", "input shape"), ("input_dtype", "input type"),
                          ("class_names", "classes"), ("dataset", "data set"), ("vocabulary", ""),
                          ("normalization", "input normalisation")):
            if key == "vocabulary":      # before the normalisation: a reason more telling than its statistics
                _check_vocabulary(path, m, paths[0], first)
            elif m.metadata.get(key) != first.metadata.get(key):
                if key == "normalization" and m.metadata.get(key) and first.metadata.get(key) \
                        and m.config.get("seed", 0) != first.config.get("seed", 0):    # statistics of another split
                    raise EnsembleError(f"{path}: " + split_message(m.metadata.get("dataset"), (
                        first.config.get("seed", 0), m.config.get("seed", 0))) + " (their normalisation differs too)")
                options = _options_differ(m, first)
                if key == "normalization" and options:            # statistics of another split or other images
                    raise EnsembleError(f"{path}: {_options_message(m, first, options)} (their normalisation "
                                        "differs too)")
                said = "different classes" if key == "class_names" else f"a different {what}"
                raise EnsembleError(f"{path} has {said} ({_shown(m.metadata.get(key))}) from {paths[0]} "
                                    f"({_shown(first.metadata.get(key))}): an ensemble's members share input and "
                                    "outputs; combine runs trained with the same data settings")
    return members


VOCABULARY_OPTIONS = ("path", "tokenize", "min_count", "max_size")     # what a token set's vocabulary is built from


def _check_vocabulary(path, m: ExportSource, first_path, first: ExportSource) -> None:
    """Members that read token ids must have been trained with one vocabulary: otherwise an id means another
    word to each (and a smaller vocabulary's Embedding cannot read the larger one's ids at all)."""
    size, first_size = m.metadata.get("vocab_size"), first.metadata.get("vocab_size")
    if not size and not first_size:
        return
    options = [k for k in VOCABULARY_OPTIONS if (m.config.get("dataset_options") or {}).get(k)
               != (first.config.get("dataset_options") or {}).get(k)]
    if size == first_size and not options:
        return
    differs = (f"{size} tokens, against {first_size}" if size != first_size else
               f"built with other {', '.join(options)}")
    raise EnsembleError(f"{path} has a different vocabulary ({differs} in {first_path}): token ids would mean "
                        "other words to each member; combine runs trained on the same text with the same vocabulary "
                        f"settings ({', '.join(VOCABULARY_OPTIONS)})")


def _refuse_repeats(paths) -> None:
    """Two arguments that load the same checkpoint (the same run twice, `runs/a` and `./runs/a/`, a link,
    a run and its newest checkpoint folder) would count one model twice: refused, naming both."""
    seen = {}
    for i, path in enumerate(paths, 1):
        try:
            key = latest_checkpoint(path).resolve()
        except (CheckpointError, OSError):
            continue       # load_source says what is wrong with it
        if key in seen:
            j, first = seen[key]
            same = "is the same run as" if str(path) == str(first) else "loads the same checkpoint as"
            raise EnsembleError(f"argument {i} ({shown(str(path), 120)}) {same} argument {j} "
                                f"({shown(str(first), 120)}): give each run once; an ensemble needs different models")
        seen[key] = (i, path)


def _shown(value) -> str:
    """A metadata value for a message: a long list of class names by its count and its first and last."""
    if value is None:
        return "none"
    if isinstance(value, list) and len(value) > 4 and all(isinstance(v, str) for v in value):
        return f"{len(value)} classes: {value[0]}, {value[1]} ... {value[-1]}"
    return str(value)


def ensemble_source(members: list[ExportSource]) -> ExportSource:
    first = members[0]
    model = Ensemble([m.model for m in members]).eval()
    meta = {**first.metadata, "graph_name": f"Ensemble of {len(members)}", "output": "mean of softmax",
            "ensemble": [{"graph_name": m.metadata["graph_name"], "source": m.metadata.get("source")} for m in members]}
    return ExportSource(first.doc, model, first.input_shape, first.input_dtype, meta, True, dict(first.config))


@torch.no_grad()
def evaluate(members: list[ExportSource], batch_size: int = 500) -> dict:
    """Validation accuracy of each member and of the ensemble (mean of softmax), on the members' data set
    with their normalisation."""
    first = members[0]
    cfg = first.config
    data = _members_data(members, int(cfg.get("seed", 0)))
    _check_same_split(members, data)
    val_tf = build_transforms(data.info, augment=None, normalize=bool(cfg.get("normalize", True)), train=False)
    val = data.val
    n = len(val)
    probs = [[] for _ in members]
    labels = []
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size))
        x, y = gather(val, idx)
        if val_tf is not None:
            x = val_tf(x)
        labels.append(y)
        for i, m in enumerate(members):
            probs[i].append(torch.softmax(m.model(x), dim=1))
    y = torch.cat(labels)
    member_probs = [torch.cat(p) for p in probs]
    accs = [int((p.argmax(1) == y).sum()) / n for p in member_probs]
    mean = torch.stack(member_probs).mean(0)
    return {"members": [{"source": m.metadata.get("source"), "val_accuracy": a} for m, a in zip(members, accs)],
            "ensemble_val_accuracy": int((mean.argmax(1) == y).sum()) / n,
            "best_member_val_accuracy": max(accs), "num_val": n, "dataset": first.metadata["dataset"]}


def split_message(dataset, seeds) -> str:
    return (f"the members were trained on different training / validation splits of {dataset} (seeds "
            f"{' and '.join(map(str, seeds))}; this data set splits by the seed), so an ensemble score would count "
            "samples some members trained on: give the data set fixed train/ and val/ parts, or train the members "
            "with one seed")


def _members_data(members: list[ExportSource], seed: int, options: dict | None = None):
    """The members' data set as the first member's run loaded it (with `seed`, and `options` when given: another
    member's); EnsembleDataMissing when it cannot, or when its classes are no longer those the members trained on
    (a class folder added, removed or renamed since: every score would be wrong)."""
    first = members[0]
    try:
        data = load_dataset(first.metadata["dataset"], input_shape=first.input_shape, seed=seed,
                            **(first.config.get("dataset_options") if options is None else options or {}))
    except DataError as exc:
        raise EnsembleDataMissing(f"the members cannot be scored, their data set does not load: {exc}") from None
    changed = classes_problem(first.metadata.get("class_names"), data.info.class_names, data.info.name, "they")
    if changed:
        raise EnsembleDataMissing(f"the members cannot be scored: {changed}, so their scores on it would be wrong: "
                                  "put the data set back as it was, or train new runs on it")
    return data


def _check_same_split(members: list[ExportSource], data) -> None:
    """Members trained with another seed or other data-set options must have held out the very samples `data`
    (the first member's split) holds out: otherwise the score counts samples some members trained on. Compared a
    batch at a time (a split of photos is never read whole)."""
    first_seed = int(members[0].config.get("seed", 0))
    first_options = members[0].config.get("dataset_options") or {}
    n = len(data.val)
    checked = {(first_seed, _key(first_options))}
    for m in members[1:]:
        seed, options = int(m.config.get("seed", 0)), m.config.get("dataset_options") or {}
        if (seed, _key(options)) in checked:
            continue
        checked.add((seed, _key(options)))
        other = _members_data(members, seed, options).val
        if len(other) == n and _same_samples(data.val, other, n):
            continue
        if seed != first_seed:
            raise EnsembleError(split_message(members[0].metadata["dataset"], (first_seed, seed)))
        raise EnsembleError(_options_message(m, members[0], _options_differ(m, members[0])))


def _same_samples(a, b, n: int) -> bool:
    for start in range(0, n, READ_BATCH):
        idx = torch.arange(start, min(n, start + READ_BATCH))
        if not all(torch.equal(p, q) for p, q in zip(gather(a, idx), gather(b, idx))):
            return False
    return True


def _key(options: dict) -> str:
    return json.dumps(options, sort_keys=True, default=str)


def _options_differ(m: ExportSource, first: ExportSource) -> list:
    mine, theirs = m.config.get("dataset_options") or {}, first.config.get("dataset_options") or {}
    return [k for k in sorted(set(mine) | set(theirs), key=str) if mine.get(k) != theirs.get(k)]


def _option(options: dict, key) -> str:
    return shown(repr(options[key]), 60) if key in options else "the default"


def _options_message(m: ExportSource, first: ExportSource, keys: list) -> str:
    mine, theirs = m.config.get("dataset_options") or {}, first.config.get("dataset_options") or {}
    said = ", ".join(f"{k} {_option(theirs, k)} against {_option(mine, k)}" for k in keys[:3])
    return (f"the members read {first.metadata.get('dataset')} with other options ({said}), so they held out other "
            "validation samples and an ensemble score would count samples some members trained on: combine runs "
            "trained with the same data settings")


def _member_class(doc) -> str:
    name = class_name_for(doc.name)
    if not name.isidentifier():
        raise EnsembleError(f"cannot name a Python class after {doc.name!r}")
    return name


def export_project(members: list[ExportSource], folder) -> Path:
    """A folder with member_<i>.py (each member's generated module), model.py (the Ensemble class),
    ensemble_state.pt and model.json; it needs only PyTorch."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise EnsembleError(f"{folder} exists and is not empty: choose a new folder")
    with staged_folder(folder, ".ensemble-") as staging:
        imports = []
        for i, m in enumerate(members):
            (staging / f"member_{i}.py").write_text(generated_code(m.doc, m.data), encoding="utf-8")   # as trained
            imports.append(f"from member_{i} import {_member_class(m.doc)} as Member{i}")
        lines = ['"""An ensemble of Layerloom models: the mean of the members\' softmax outputs."""', "import torch",
                 "from torch import nn", "", *imports, "",
                 f"CLASS_NAMES = {py_literal(members[0].metadata.get('class_names'))}",
                 f"INPUT_SHAPE = {py_literal(list(members[0].input_shape))}", "", "",
                 "class Ensemble(nn.Module):", "    def __init__(self):", "        super().__init__()",
                 "        self.members = nn.ModuleList(["
                 + ", ".join(f"Member{i}()" for i in range(len(members))) + "])",
                 "", "    def forward(self, x):",
                 "        return torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(dim=0)", "", "",
                 "def load(path=\"ensemble_state.pt\"):",
                 "    model = Ensemble()",
                 "    model.load_state_dict(torch.load(path, weights_only=True))",
                 "    return model.eval()", ""]
        (staging / "model.py").write_text("\n".join(lines), encoding="utf-8")
        src = ensemble_source(members)
        torch.save({k: v.detach().cpu() for k, v in src.model.state_dict().items()}, staging / "ensemble_state.pt")
        write_model_json(src, staging, {"model": "model.py", "weights": "ensemble_state.pt"})
    return folder


NAMES = {"onnx": "ensemble.onnx", "project": "project"}     # what each format is called in the export folder


def export_ensemble(members: list[ExportSource], out, formats=("onnx", "project")) -> dict:
    """Write the ensemble in each format into `out`; returns {format: path}. All or nothing, as an export is
    (export/staging.py): every format is written into a hidden folder inside `out` and moved into place only
    when all are there, so a failure or an interrupt on the way leaves `out` as it was. An earlier export
    there is refused before anything is written (not its ONNX file replaced, then its project refused)."""
    out = Path(out)
    unknown = [fmt for fmt in formats if fmt not in NAMES]
    if unknown:
        raise EnsembleError(f"unknown ensemble format {', '.join(map(str, unknown))}: choose from {', '.join(NAMES)}")
    names = {fmt: NAMES[fmt] for fmt in dict.fromkeys(formats)}
    taken = [name for name in names.values()
             if (out / name).exists() and not ((out / name).is_dir() and not any((out / name).iterdir()))]
    if taken:
        raise EnsembleError(f"{out} already holds an ensemble ({', '.join(taken)}): choose a new folder, or delete "
                            "what is there first")
    problem = places_problem(out, names)
    if problem:
        raise EnsembleError(f"{problem} ({NOTHING})")
    clear_stale_staging(out)      # what exports killed on the way (an ensemble's or another's) left; a live one's stays
    with staged_export(out) as staging:
        if "onnx" in names:
            result = export_onnx(ensemble_source(members), staging / names["onnx"])
            if not result.verified:
                raise EnsembleError(f"the ONNX ensemble does not match PyTorch (max difference "
                                    f"{result.max_abs_diff}) ({NOTHING})")
        if "project" in names:
            export_project(members, staging / names["project"])
        publish(staging, out, list(names.values()))
    return {fmt: out / name for fmt, name in names.items()}
