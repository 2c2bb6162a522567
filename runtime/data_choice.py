"""Which data set a command-line run uses: `--dataset`, `--data PATH` and `--data-option KEY=VALUE`
resolved against the graph's training section, and the facts `summary`/`check` fill "auto" from.

`--dataset X` starts from X's defaults: the graph's `dataset_options` apply only when the graph
names the same data set. Messages are one line that names the flag to use.
"""
from __future__ import annotations

import json
from pathlib import Path

from .data import DataError, dataset_info
from .data.registry import dataset_options

PATH_OPTION = "path"


class DataChoiceError(ValueError):
    """A command-line data choice that cannot be used; the message names the flag."""


def parse_option(text: str) -> tuple[str, object]:
    """'val_fraction=0.2' -> ('val_fraction', 0.2); values are JSON where they parse, else text."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise DataChoiceError(f"--data-option needs KEY=VALUE (for example --data-option val_fraction=0.2), "
                              f"not {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def resolve(training: dict | None, dataset: str | None, data: str | None, options: list[str]) -> dict:
    """The `dataset` and `dataset_options` overrides for TrainConfig ({} when nothing was asked)."""
    training = training or {}
    if dataset is None and data is None and not options:
        return {}
    graph_set = training.get("dataset", "mnist-sample")
    name = dataset or graph_set
    chosen = dict(training.get("dataset_options") or {}) if name == graph_set else {}
    try:
        accepted = dataset_options(name)
    except DataError as exc:
        raise DataChoiceError(str(exc)) from None
    for text in options:
        key, value = parse_option(text)
        if key not in accepted:
            takes = f"it takes {', '.join(accepted)}" if accepted else "it takes no options"
            raise DataChoiceError(f"--data-option {key}: {name} has no option {key}; {takes}")
        chosen[key] = value
    if data is not None:
        if PATH_OPTION not in accepted:
            raise DataChoiceError(f"--data is for the data sets read from your files (image-folder, text-csv, "
                                  f"text-corpus); {name} reads none")
        where = Path(data).expanduser()
        if not where.exists():
            raise DataChoiceError(f"--data {data}: there is no such file or folder")
        chosen[PATH_OPTION] = str(where.resolve())
    if PATH_OPTION in accepted and chosen.get(PATH_OPTION) is None:
        raise DataChoiceError(f"{name} reads your own files: give their path with --data PATH")
    try:        # each option's range, as the set's description checks it: before any work, not after it
        dataset_info(name, **chosen)
    except DataError as exc:
        raise DataChoiceError(str(exc)) from None
    return {"dataset": name, "dataset_options": chosen}


def graph_data_context(doc) -> tuple[dict | None, str]:
    """(the facts data-driven "auto" parameters follow, the data set's name) for the data set the
    graph's training section names, when it can be described offline; (None, "") otherwise."""
    training = doc.training or {}
    name = training.get("dataset")
    inputs = [b for b in doc.blocks.values() if b.kind == "Input"]
    if not isinstance(name, str) or len(inputs) != 1:
        return None, ""
    options = training.get("dataset_options") or {}
    if not isinstance(options, dict):
        return None, ""
    try:
        if PATH_OPTION in dataset_options(name) and options.get(PATH_OPTION) is None:
            return None, ""      # the set reads files the graph does not name
        info = dataset_info(name, input_shape=tuple(inputs[0].full_params()["shape"]), **options)
    except (DataError, OSError, ValueError, TypeError):
        return None, ""
    return info.data_context(), info.name
