"""File ▸ Export Model… and the Runs tab's Export: which model to export is the person's choice.

The choices are the open graph's trained runs (newest first, with their date and validation accuracy)
and the untrained graph itself. A run belongs to the open graph when its saved graph has the same
blocks, parameters and wires (positions and training settings aside).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from layerloom.graph.fileformat import graph_to_dict
from layerloom.graph.quoting import shown
from layerloom.runtime.runs import RunInfo, list_runs, read_json, read_metrics, slug

from . import places, settings
from .export_dialog import ExportDialog
from .modal import run_modal


@dataclass(frozen=True)
class ExportChoice:
    label: str
    run: Path | None          # a run folder, or None: the open graph, untrained
    training: bool = False    # the run trains in this window now: its newest checkpoint is what it has so far


def network_of(graph: dict) -> tuple:
    """What a graph computes: its blocks' ids, kinds and parameters, and its wires."""
    blocks = sorted((b.get("id"), b.get("kind"), repr(sorted((b.get("params") or {}).items())))
                    for b in graph.get("blocks", []))
    edges = sorted(repr(e) for e in graph.get("edges", []))
    return tuple(blocks), tuple(edges)


def has_checkpoint(run: Path) -> bool:
    return (Path(run) / "checkpoints" / "latest.json").exists()


def run_gone(run: Path) -> str:
    """Why a run folder shown in a list can no longer be used: "" while it is on disk."""
    if Path(run).is_dir():
        return ""
    return f"{shown(Path(run).name)} is no longer on disk (moved or deleted); the Runs tab now lists what is there."


def run_label(run: RunInfo, training: bool = False) -> str:
    """"Run 2026-12-01 03:17 · val acc 93.0% · stopped · mnist-sample"; `training`: the run trains now."""
    try:
        when = datetime.strptime(run.name[:15], "%Y%m%d-%H%M%S").strftime("%Y-%m-%d %H:%M")
    except ValueError:
        when = run.name
    s = run.summary or {}
    acc = s.get("val_accuracy")
    if not isinstance(acc, (int, float)):        # no summary yet (it trains) or none written: its last epoch's
        rows = read_metrics(run.path)
        acc = rows[-1]["val_accuracy"] if rows else None
    acc_text = f"val acc {acc:.1%}" if isinstance(acc, (int, float)) else "no validation yet"
    status = "training now" if training else s.get("status", "incomplete")
    return f"Run {when} · {acc_text} · {status} · {run.config.get('dataset', '?')}"


def runs_of(doc, base: Path) -> list[RunInfo]:
    """The trained runs under `base` of the graph `doc`, newest first."""
    mine = network_of(graph_to_dict(doc))
    out = []
    for run in list_runs(base):
        if not has_checkpoint(run.path):
            continue
        try:
            if network_of(read_json(run.path / "graph.loom.json")) == mine:
                out.append(run)
        except (OSError, ValueError):
            continue
    return out


def choices_for(doc, base: Path, training: Path | None = None) -> list[ExportChoice]:
    """The runs of `doc` under `base` to export, and the untrained graph; `training`: the folder of the run
    that trains now."""
    runs = [ExportChoice(run_label(r, r.path == training), r.path, r.path == training)
            for r in runs_of(doc, base)]
    graph = (f"{doc.name}, as it is (the weights of {shown(doc.weights, 40)})" if doc.weights
             else f"{doc.name}, untrained (freshly initialised weights)")
    return runs + [ExportChoice(graph, None)]


def remember_choice(folder: Path, proposed: Path) -> None:
    """An export went into `folder`: when the person chose it (not the folder proposed), the next graph
    without a file of its own is proposed a folder beside it."""
    if folder != proposed:
        settings.set_export_base(folder.parent)


class Exporting:
    def __init__(self, win):
        self.win = win

    def graph_problem(self) -> str:
        """Why the open graph cannot be exported untrained ("" when it can)."""
        result = self.win.session.result or self.win.session.flush()
        errors = result.errors if result is not None else []
        if not errors:
            return ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"The graph has an error{more}, so it cannot be exported: {errors[0].text}"

    def dialog(self, run: Path | None = None) -> ExportDialog:
        """The Export dialog for the open graph, with `run` (a run folder) chosen if given."""
        doc = self.win.document
        run_now = self.win.training.run
        started = run_now.live.started if run_now.active else None       # the run that trains now, once it has begun
        training = Path(started["run_dir"]) if started and started.get("run_dir") else None
        choices = choices_for(doc, self.win.training.runs_base, training)
        if run is not None and all(c.run != Path(run) for c in choices):
            info = next((r for r in list_runs(Path(run).parent) if r.path == Path(run)), None)
            now = Path(run) == training
            label = run_label(info, now) if info is not None else Path(run).name
            choices.insert(0, ExportChoice(label, Path(run), now))
        selected = next((i for i, c in enumerate(choices) if run is not None and c.run == Path(run)), 0)
        proposed = places.export_folder(self.win.session.path, slug(doc.name))
        base = self.win.training.runs_base
        dialog = ExportDialog(doc, choices, selected, str(proposed), self.graph_problem(), self.win,
                              training=run_now.active, choices_now=lambda: choices_for(doc, base))
        dialog.exported.connect(lambda folder: remember_choice(Path(folder), proposed))
        if run_now.active:                # the run ends while the dialog is open: its choice says so
            run_now.state_changed.connect(dialog.run_state_changed)
        return dialog

    def open_dialog(self, run: Path | None = None) -> None:
        self.win.commit_typing()           # the graph exported is the one the fields show
        run_modal(self.dialog(run))

    def export_run(self, run: Path) -> None:
        """The Runs tab's Export: the selected run."""
        gone = run_gone(run)
        if gone:
            self.win.training.runs.refresh()
            self.win.session.message.emit(f"Cannot export: {gone}")
            return
        if not has_checkpoint(run):
            self.win.session.message.emit(f"{Path(run).name} has no checkpoint to export.")
            return
        self.open_dialog(Path(run))
