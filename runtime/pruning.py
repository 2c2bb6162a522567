"""Prune a trained run's channels, fine-tune the smaller graph, and measure both side by side.

    report = prune_run("runs/20260101-120000-lenet-5", 0.5, out="pruned", finetune_epochs=1)
    print(report.table())        # parameters, MACs, file size, validation accuracy: before / after

The graph edit itself is `layerloom.graph.pruning.prune_channels`; this module adds the run's
weights and data. The pruned graph is saved to `out` with its kept weights attached (the graph's
own safetensors file, see layerloom.graph.weights), so opening, training or exporting it starts
from them; the short fine-tuning run is an ordinary run of that graph. The table gives the
accuracy before pruning, right after it, and after fine-tuning.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from safetensors.torch import save as safetensors_bytes

from layerloom.graph import analyze, compile_graph, load_graph, save_graph
from layerloom.graph.fileformat import graph_from_dict
from layerloom.graph.pruning import PruneError, PruneResult, prune_channels
from layerloom.graph.weights import save_graph_weights

from .checkpoints import CheckpointError, load_checkpoint
from .data import DataError
from .evaluation import evaluation_data
from .runs import slug


FINETUNE_LR_FACTOR = 1 / 3    # measured on LeNet-5 (5 epochs, halved): 1/3 of the run's rate beat 1 and 1/10


def state_bytes(state: dict) -> int:
    """The size of a state_dict as a .safetensors file."""
    return len(safetensors_bytes({k: v.detach().contiguous().cpu() for k, v in state.items()}))


@dataclass
class PruneReport:
    result: PruneResult
    rows: dict = field(default_factory=dict)      # "original" / "pruned" / "fine-tuned" -> figures
    graph_path: Path | None = None                # the pruned graph file (its weights beside it)
    run_dir: Path | None = None                   # the fine-tuning run
    note: str = ""                                # why the accuracy is not measured, when it is not
    stopped: bool = False                         # the fine-tuning was stopped before its end

    def table(self) -> str:
        head = f"{'':12}{'parameters':>12}{'MACs':>15}{'file size':>12}{'val accuracy':>14}"
        lines = [head]
        base = self.rows["original"]
        for name, row in self.rows.items():
            acc = "n/a" if row.get("val_accuracy") is None else f"{row['val_accuracy'] * 100:.2f} %"
            lines.append(f"{name:12}{row['params']:>12,}{row['macs']:>15,}{row['bytes'] / 1e3:>9.1f} kB{acc:>14}")
        after = self.rows["pruned"]
        lines.append(f"kept {after['params'] / base['params'] * 100:.0f} % of the parameters and "
                     f"{after['macs'] / base['macs'] * 100:.0f} % of the MACs")
        lines += [f"{note}." for note in self.result.notes]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def save_pruned(result: PruneResult, out) -> Path:
    """Write the pruned graph and its kept weights (named by the graph) into the folder `out`; a name an
    earlier pruning took there gets -2, -3, ... (pruning again never replaces a pruned graph, or edits to it)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = stem = slug(result.doc.name)
    n = 1
    while (out / f"{stem}.loom.json").exists() or (out / f"{stem}.safetensors").exists():
        n += 1
        stem = f"{base}-{n}"
    path = out / f"{stem}.loom.json"
    result.doc.path = str(path.resolve())        # the weights file is named relative to the graph's folder
    weights = (out / f"{stem}.safetensors").resolve()
    new = not weights.exists()
    save_graph_weights(result.doc, result.weights, weights)
    try:
        save_graph(result.doc, path)
    except BaseException:    # Ctrl-C, a full disk: no weights file stays without the graph that names it
        if new:
            weights.unlink(missing_ok=True)
        raise
    return path


def run_evaluation(meta: dict, max_val: int | None = None, bundle=None):
    """The validation data of the run whose checkpoint metadata is `meta` (runtime.evaluation's
    EvaluationData); raises DataError with a sentence when its data set cannot be loaded, or when its classes
    changed since the run trained (the app's prune dialog and the CLI alike)."""
    return evaluation_data(dict(meta.get("config") or {}), tuple(meta.get("input_shape") or ()),
                           meta.get("dataset"), max_val=max_val, bundle=bundle, class_names=meta.get("class_names"))


def model_accuracy(doc, weights: dict, data_context, data) -> float:
    """Top-1 validation accuracy of the graph `doc` carrying `weights`, in eval mode."""
    model = compile_graph(doc, analyze(doc, data_context), weights=False)
    model.load_state_dict(weights)
    model.eval()
    return data.accuracy(model)


def _row(doc, weights, data_context, data) -> dict:
    result = analyze(doc, data_context)
    acc = model_accuracy(doc, weights, data_context, data) if data is not None else None
    return {"params": result.total_params, "macs": result.total_macs, "bytes": state_bytes(weights),
            "val_accuracy": acc}


def prune_run(source, ratio: float, out, blocks=None, finetune_epochs: int = 1, runs_base="runs", data=None,
              callback=None, overrides: dict | None = None, on_trainer=None) -> PruneReport:
    """Prune the run (or checkpoint) at `source`; fine-tune for `finetune_epochs` (0: no fine-tuning) at a
    third of the run's learning rate. `data` is a DataBundle to use instead of loading the run's data set;
    `overrides` change the fine-tuning settings; `on_trainer` is given the fine-tuning's Trainer before it
    runs (to stop it: a stopped fine-tuning is reported as far as it went, and can be resumed)."""
    from .trainer import Trainer

    ckpt = load_checkpoint(source)
    doc = graph_from_dict(ckpt.meta["graph"])
    context = ckpt.meta.get("data_context")
    config = dict(ckpt.meta.get("config") or {})
    teacher = None
    if finetune_epochs > 0:
        teacher = _check_teacher(source, {**config, **(overrides or {})}.get("teacher"), ckpt.path.parent.parent)
    result = prune_channels(doc, ckpt.weights, ratio, blocks, data=context)
    result.doc.name = f"{doc.name} pruned"
    report = PruneReport(result)
    try:
        evaluation = run_evaluation(ckpt.meta, bundle=data)
    except DataError as exc:
        if finetune_epochs > 0:        # fine-tuning trains on it
            raise
        evaluation = None              # pruning itself needs only the weights
        report.note = f"Validation accuracy not measured. {exc}"
    report.rows["original"] = _row(doc, ckpt.weights, context, evaluation)
    report.rows["pruned"] = _row(result.doc, result.weights, context, evaluation)
    made_out = not Path(out).exists()
    result.doc.training = starting_from_kept(result.doc.training)
    report.graph_path = save_pruned(result, out)
    if finetune_epochs > 0:
        lr = float(config.get("lr") or doc.training.get("lr") or 1e-3) * FINETUNE_LR_FACTOR
        settings = {**config, "epochs": finetune_epochs, "max_steps": 0, "lr": lr, **(overrides or {})}
        settings["init_from"] = ""     # the pruned graph's own weights are the start (an override beats its training)
        if teacher:
            settings["teacher"] = teacher             # found beside the run when it named it relative to elsewhere
        heard = _FineTuneEvents(callback)
        trainer = Trainer(load_graph(report.graph_path), settings, heard, runs_base=runs_base, data=data)
        if on_trainer is not None:
            on_trainer(trainer)
        summary = trainer.run()
        if summary is None and not heard.started:     # refused before its run began: the prune takes back its files
            _take_back(report.graph_path, Path(out) if made_out else None)
            raise PruneError(f"the fine-tuning cannot start: {heard.failure}; nothing was saved (fix that, or "
                             "prune with --finetune-epochs 0)")
        if summary is None:
            raise PruneError(f"the fine-tuning run {trainer.run_dir} failed: {heard.failure}; the pruned graph "
                             f"{report.graph_path} is kept as pruned, without fine-tuning")
        report.run_dir = trainer.run_dir
        if summary.get("status") == "stopped":
            report.stopped = True
            report.note = " ".join(filter(None, [report.note, (
                f"The fine-tuning was stopped after {summary['steps']:,} steps: its row is the weights at that "
                f"point; resume it with: layerloom train --resume {trainer.run_dir}")]))
        weights = {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}
        report.rows["fine-tuned"] = _row(result.doc, weights, context, evaluation)
    return report


def starting_from_kept(training: dict) -> dict:
    """A graph's training section without `init_from`: a pruned graph carries its kept weights, and a run that
    started from the source the unpruned graph named would overwrite the layers pruning left whole."""
    return {k: v for k, v in (training or {}).items() if k != "init_from"}


def _check_teacher(source, teacher, run_dir) -> str | None:
    """A run trained by distillation is fine-tuned the same way, from the teacher its settings name: one that
    cannot be loaded refuses the prune before anything is written, saying where it was named. Returns the
    teacher's absolute path (a relative one is looked for beside the run `run_dir` too)."""
    if not teacher:
        return None
    from .distillation import load_teacher, teacher_path
    try:
        load_teacher(teacher, "cpu", run_dir)
    except CheckpointError as exc:
        raise PruneError(f"the fine-tuning distils from the teacher {teacher}, as the run {source} was trained (its "
                         f"settings name that teacher), but {exc.reason}: put the teacher's run back there, or prune "
                         "with --finetune-epochs 0 and fine-tune the pruned graph yourself (layerloom train GRAPH "
                         "--teacher RUN); nothing was saved") from None
    return teacher_path(teacher, run_dir)


class _FineTuneEvents:
    """Forwards the fine-tuning run's events, keeping whether it began (its `started` event) and why it failed.
    A failure before it began is the prune's own refusal, said once by PruneError, so it is not forwarded."""

    def __init__(self, callback):
        self.callback, self.started, self.failure = callback, False, "no reason given"

    def __call__(self, event: dict) -> None:
        if event.get("type") == "started":
            self.started = True
        if event.get("type") == "failed":
            self.failure = str(event.get("message") or self.failure).rstrip(".")
            if not self.started:
                return
        if self.callback is not None:
            self.callback(event)


def _take_back(graph_path: Path, made_folder: Path | None) -> None:
    """Remove a pruned graph and its weights file (both new: save_pruned never reuses a name), and the folder
    they went in when this prune made it and it is empty again."""
    for path in (graph_path, graph_path.with_name(graph_path.name.removesuffix(".loom.json") + ".safetensors")):
        path.unlink(missing_ok=True)
    if made_folder is not None:
        try:
            made_folder.rmdir()
        except OSError:
            pass


def tensor_bytes(state: dict, block_id: str) -> int:
    """The bytes of one block's tensors in a state_dict (weights, biases, norm statistics)."""
    prefix = f"{block_id}."
    return sum(v.numel() * v.element_size() for k, v in state.items() if k.startswith(prefix))


def block_rows(doc, weights: dict, result: PruneResult, data: dict | None = None) -> list[dict]:
    """The before/after figures of every block whose size pruning changes, then a "total" row:
    {"block", "params": (before, after), "macs": (before, after), "bytes": (before, after)}.
    Parameters and MACs come from the analysis of each graph; bytes from the tensors themselves, and
    the total's bytes are the size of each state_dict as a .safetensors file."""
    before, after = analyze(doc, data), analyze(result.doc, data)
    rows = []
    for bid in before.order:
        b, a = before.blocks[bid], after.blocks[bid]
        row = {"block": bid, "params": (b.param_count, a.param_count), "macs": (b.macs, a.macs),
               "bytes": (tensor_bytes(weights, bid), tensor_bytes(result.weights, bid))}
        if row["params"][0] != row["params"][1] or row["macs"][0] != row["macs"][1]:
            rows.append(row)
    rows.append({"block": "total", "params": (before.total_params, after.total_params),
                 "macs": (before.total_macs, after.total_macs),
                 "bytes": (state_bytes(weights), state_bytes(result.weights))})
    return rows
