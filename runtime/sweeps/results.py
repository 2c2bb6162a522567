"""A sweep's results as plain data: `results.json`, the results table, importance, the best values.

`results.json` is a list of trials, each with `number`, `state` (complete, pruned, failed; running
or waiting while the sweep goes on), `params` (path -> value), `value` (the objective: the final
validation metric; for a pruned trial its last reported one) and `run` (its run folder), plus
`message` (why it failed), `best_value` / `best_epoch`, `seconds`, `params_count` and `macs`.
Everything is rebuilt from the Optuna study, so it survives a killed coordinator.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

from optuna.trial import TrialState

from layerloom.graph.quoting import shown

from ..runs import write_json
from .spec import SweepError, check_path

STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
          TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


def _finite(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def trial_rows(study) -> list[dict]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        if a.get("surplus"):
            continue
        value = t.value
        if t.state == TrialState.PRUNED and value is None and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        best = a.get("best") or {}
        seconds = a.get("seconds")
        if seconds is None and t.datetime_start and t.datetime_complete:
            seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 2)
        params = dict(t.params)
        if t.state == TrialState.WAITING:      # queued again (interrupted): Optuna keeps its values aside until asked
            params = dict(t.system_attrs.get("fixed_params") or {})
        rows.append({"number": t.number, "state": STATES.get(t.state, t.state.name.lower()), "params": params,
                     "value": _finite(value), "run": a.get("run"), "message": a.get("message"),
                     "best_value": _finite(best.get("value")), "best_epoch": best.get("epoch"),
                     "pruned_at_epoch": a.get("pruned_at_epoch"), "seconds": seconds,
                     "params_count": a.get("params_count"), "macs": a.get("macs")})
    return rows


def write_results(study, path, spec=None) -> list[dict]:
    rows = trial_rows(study)
    write_json(Path(path), rows)
    return rows


def best_row(rows: list[dict], direction: str = "maximize") -> dict | None:
    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    if not done:
        return None
    pick = max if direction == "maximize" else min
    return pick(done, key=lambda r: r["value"])


def importance(study) -> dict[str, float]:
    """How much each swept parameter explains the objective (Optuna's default evaluator), largest first;
    empty until at least two trials completed with different results. When the completed trials cannot be told
    apart (Optuna then warns that the importances will be equal), the figures say nothing: empty too, and the
    warning is not printed under the sweep's table."""
    import optuna
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 2 or len({t.value for t in done}) < 2:
        return {}
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            found = dict(optuna.importance.get_param_importances(study))
        except (ValueError, RuntimeError):     # e.g. every completed trial has the same values
            return {}
    return {} if any("importances will be equal" in str(w.message) for w in said) else found


def best_changes(doc, row: dict, swept=None) -> list[dict]:
    """'Apply best to graph' as a list of changes, each {path, kind (training|param), block, name,
    old, new}; only values that differ from the graph's. SweepError when a value names a block (or a
    parameter) this graph does not have: the graph changed since the sweep, or it is another graph; and,
    given `swept` (the graph the sweep ran on), when `doc` is not that graph: other blocks or wires."""
    changes = []
    for path, new in row["params"].items():
        try:
            check_path(doc, path)
        except SweepError as exc:
            raise SweepError(f"trial {row['number']}'s values do not fit this graph ({exc}): open the graph the "
                             "sweep ran on, or set the values by hand") from None
        parts = path.split(".")
        if parts[0] == "training":
            old = doc.training.get(parts[1])
            change = {"path": path, "kind": "training", "block": None, "name": parts[1], "old": old, "new": new}
        else:
            old = doc.blocks[parts[1]].params.get(parts[3])
            change = {"path": path, "kind": "param", "block": parts[1], "name": parts[3], "old": old, "new": new}
        if old != new:
            changes.append(change)
    if swept is not None and _structure(swept) != _structure(doc):      # (after the paths: that says more)
        raise SweepError(f"the sweep ran on “{shown(swept.name, 60)}”, and the graph open now has other blocks or "
                         f"wires: open the graph the sweep ran on to apply trial {row['number']}, or set its values "
                         "by hand")
    return changes


def _structure(doc) -> tuple:
    """What makes two graphs the same one for a sweep's values: its blocks (id and kind) and wires."""
    return (sorted((b.id, b.kind) for b in doc.blocks.values()),
            sorted((e.src, e.src_port, e.dst, e.dst_port) for e in doc.edges))


def table(rows: list[dict], paths: list[str]) -> tuple[list[str], list[list]]:
    """The results table as headers and rows of plain values (for a terminal, a notebook or a view):
    trial, state, every swept value, the final validation metric (the trial's value: what trials are
    ranked by, and what the weights its run keeps score), the best epoch's metric and that epoch, duration,
    params, MACs."""
    headers = ["trial", "state", *paths, "final", "best", "epoch", "seconds", "params", "MACs"]
    body = [[r["number"], r["state"], *[r["params"].get(p) for p in paths], r["value"], r["best_value"],
             r["best_epoch"], r["seconds"], r["params_count"], r["macs"]] for r in rows]
    return headers, body
