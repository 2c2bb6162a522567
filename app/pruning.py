"""Model ▸ Prune Channels… and the block menu's "Prune channels…": structured pruning as one undoable edit.

The edit is graph/pruning.py's `prune_channels` (the same as `layerloom prune`): its parameter changes
and the kept weights, written to a new safetensors file beside the graph, become one transaction (each
parameter change plus the graph's `weights` pointing at the new file). Undo puts back every parameter
and the previous `weights` entry; the previous weights file is never touched, so the graph and its
weights come back exactly. After pruning, a short fine-tuning run from the kept weights is offered.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QMessageBox

from layerloom.graph import compile_graph
from layerloom.graph.changes import Outcome, refused
from layerloom.graph.pruning import PruneError, plan_channels, prune_channels
from layerloom.graph.weights import WeightsError, save_graph_weights
from layerloom.runtime.checkpoints import CheckpointError
from layerloom.runtime.data import DataError
from layerloom.runtime.pruning import (FINETUNE_LR_FACTOR, block_rows, model_accuracy, run_evaluation,
                                       starting_from_kept)

from .background import Job, keep_until_finished
from .exporting import run_label, runs_of
from .panels.prune_dialog import PruneDialog

FRESH, ATTACHED = "fresh", "attached"      # weights keys besides a run's folder
CHOOSE_OTHER = "Choose other weights above: another run, or freshly initialised ones."
FINETUNE_EPOCHS = 1
PREVIEW_VAL_SAMPLES = 2000      # the preview judges accuracy on at most this many validation samples
NO_ACCURACY = {FRESH: "Validation accuracy is shown for a trained run's weights only: freshly initialised "
                      "weights have no validation split to be judged on.",
               ATTACHED: "Validation accuracy is shown for a trained run's weights only: the graph's own weights "
                         "file names no run, so there is no validation split to judge them on."}


def weights_file_for(graph_path: Path) -> Path:
    """A new file beside the graph for the kept weights: <graph>.pruned-<n>.safetensors, never an existing one."""
    stem = graph_path.name.removesuffix(".json").removesuffix(".loom")
    n = 1
    while (graph_path.parent / f"{stem}.pruned-{n}.safetensors").exists():
        n += 1
    return graph_path.parent / f"{stem}.pruned-{n}.safetensors"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class Pruning:
    def __init__(self, win):
        self.win = win
        self.session = win.session
        self.dialog: PruneDialog | None = None
        self.preview = None             # (weights key, blocks, ratio, PruneResult) on show
        self.job: Job | None = None     # the preview being computed
        self._again = False             # the choice changed while it was: compute once more
        self._weights_cache: dict = {}  # weights key -> (state_dict, data context, run metadata) while open
        self._eval_cache: dict = {}     # run key -> (EvaluationData, accuracy before pruning) or a reason

    # -- may it be pruned now? -------------------------------------------------------------------------
    def refusal(self) -> str | None:
        """Why the open graph cannot be pruned now (None when it can)."""
        doc = self.session.document
        locked = getattr(doc, "locked", None)
        if locked:
            return f"Pruning changes the network, and {locked}. Stop the run first."
        result = self.session.flush()
        if result is not None and result.errors:
            return (f"The graph has {len(result.errors)} error(s); fix them first (see the Problems panel). "
                    f"First: {result.errors[0].text}")
        return None

    def _sources(self, doc) -> list[tuple[str, object]]:
        runs = runs_of(doc, Path(self.win.training.runs_base))
        out = [(f"Trained: {run_label(r)}", str(r.path)) for r in runs]
        if doc.weights:
            out.append((f"The graph's own weights ({doc.weights})", ATTACHED))
        out.append(("Freshly initialised weights (nothing trained yet)", FRESH))
        return out

    @staticmethod
    def _weights(doc, key):
        """(state_dict, data context, the run's checkpoint metadata or None) for a weights key."""
        if key == ATTACHED:
            model = compile_graph(doc)       # the graph's own file, loaded the way training loads it
            return model.state_dict(), None, None
        if key == FRESH:
            return compile_graph(doc, seed=0).state_dict(), None, None
        from layerloom.runtime.checkpoints import load_checkpoint
        try:
            ckpt = load_checkpoint(key)
        except CheckpointError as exc:     # the commands' advice (resume, export) is not what this dialog offers
            raise CheckpointError(exc.reason, CHOOSE_OTHER if exc.advice else "") from None
        return ckpt.weights, ckpt.meta.get("data_context"), ckpt.meta

    # -- the dialog ---------------------------------------------------------------------------------------
    def open_dialog(self, block: str | None = None) -> PruneDialog | None:
        why = self.refusal()
        doc = self.session.document
        if why is None:
            try:
                blocks = plan_channels(doc).prunable()
            except PruneError as exc:
                blocks, why = [], f"This graph cannot be pruned: {exc}."
            if not why and not blocks:
                why = "No block of this graph can be pruned: only Conv and Linear blocks whose outputs are " \
                      "not the network's outputs can lose channels."
            elif not why and block is not None and block not in blocks:
                why = f"{plan_channels(doc).refusal(block)}."
        if why:
            QMessageBox.information(self.win, "Cannot prune now", why)
            self.session.message.emit(why)
            return None
        dialog = PruneDialog(doc.name, self._sources(doc), blocks, block, self.win)
        dialog.choice_changed.connect(self.update_preview)
        dialog.finished.connect(self._finished)
        self.dialog = dialog
        self.update_preview()
        dialog.open()
        return dialog

    def compute(self, doc, key, blocks, ratio, caches=None, judge=True):
        """(PruneResult, table rows) for one choice; raises PruneError / WeightsError with the reason.
        With `judge`, the "total" row also holds "accuracy": (before, after pruning, samples judged, split
        size) on a run's validation split, judged the way `layerloom prune` judges it, or a sentence saying
        why not. `caches`: the (weights, evaluation) caches to use, by default the open dialog's."""
        weights_cache, eval_cache = caches or (self._weights_cache, self._eval_cache)
        if key not in weights_cache:
            weights_cache[key] = self._weights(doc, key)
        weights, context, meta = weights_cache[key]
        result = prune_channels(doc, weights, ratio, blocks, data=context)
        rows = block_rows(doc, weights, result, context)
        if judge:
            rows[-1]["accuracy"] = self._accuracy(eval_cache, doc, key, weights, context, meta, result)
        return result, rows

    @staticmethod
    def _accuracy(cache, doc, key, weights, context, meta, result):
        if meta is None:
            return NO_ACCURACY[key]
        if key not in cache:
            try:
                data = run_evaluation(meta, max_val=PREVIEW_VAL_SAMPLES)
                cache[key] = (data, model_accuracy(doc, weights, context, data))
            except DataError as exc:
                cache[key] = f"Validation accuracy is not shown: {str(exc).rstrip('.')}."
        cached = cache[key]
        if isinstance(cached, str):
            return cached
        data, before = cached
        return before, model_accuracy(result.doc, result.weights, context, data), len(data.val_y), data.split_size

    def update_preview(self) -> None:
        """Compute the dialog's preview off the GUI thread (ResNet-18 takes seconds); the newest choice wins."""
        dialog = self.dialog
        if dialog is None:
            return
        if self.job is not None:
            self._again = True
            return
        choice = dialog.chosen()
        doc = self.session.document.copy()
        dialog.show_busy()
        self._again = False
        caches = (self._weights_cache, self._eval_cache)    # this dialog's: a closed one's job keeps its own
        self.job = Job(lambda: (choice, *self.compute(doc, *choice, caches=caches)), "layerloom-pruning",
                       expected=(PruneError, WeightsError, CheckpointError))   # each already a sentence
        self.job.finished.connect(lambda job=self.job: self._previewed(job))
        self.job.start()

    def _previewed(self, job) -> None:
        if job is not self.job:          # the dialog closed meanwhile
            return
        self.job = None
        if job.error:
            self.preview = None
        else:
            choice, result, rows = job.result
            self.preview = (*choice, result)
        if self._again and self.dialog is not None and self.dialog.isVisible():
            self.update_preview()
        elif self.dialog is not None:
            self.dialog.show_problem(_sentence(job.error)) if job.error else self.dialog.show_rows(rows, result.notes)

    def _finished(self, code: int) -> None:
        """The dialog closed: Prune applies (while the dialog still holds the choice), Cancel does nothing
        and does not wait for a preview still being computed (it finishes on its own, unseen)."""
        if self.job is not None and code == QDialog.DialogCode.Accepted:
            self.job.wait()              # a preview still being computed: its result may be the one applied
            self._previewed(self.job)
        elif self.job is not None:
            keep_until_finished(self.job)
            self.job = None
        if code == QDialog.DialogCode.Accepted:
            self.apply()
        self.dialog = None
        self._weights_cache, self._eval_cache = {}, {}

    # -- applying ------------------------------------------------------------------------------------------
    def apply(self) -> Outcome:
        """Prune with the dialog's choice: one undoable edit; then offer a fine-tuning run."""
        why = self.refusal()
        choice = self.dialog.chosen() if self.dialog is not None else None
        if why is None and choice is None:
            why = "Nothing to prune: the dialog was closed."
        if why is None:
            try:
                result = self.preview[3] if self.preview and self.preview[:3] == choice else \
                    self.compute(self.session.document, *choice, judge=False)[0]
            except Exception as exc:  # the same reasons the preview shows
                why = _sentence(str(exc))
        if why:
            QMessageBox.warning(self.win, "Cannot prune", why)
            return refused(why)
        _key, blocks, ratio = choice
        if self.session.path is None and not self._save_first():
            why = "The graph was not pruned: save it first, its kept weights are written beside it."
            self.session.message.emit(why)
            return refused(why)
        carrier = result.doc          # a copy of the graph: save_graph_weights names the file on it
        carrier.path = str(self.session.path.resolve())
        try:
            target = save_graph_weights(carrier, result.weights, weights_file_for(self.session.path))
        except OSError as exc:
            why = f"The kept weights could not be written beside the graph: {exc.strerror or exc}. Nothing was pruned."
            QMessageBox.warning(self.win, "Cannot prune", why)
            return refused(why)
        what = blocks[0] if blocks else "every prunable block"
        n = sum(1 for _b, p, _o, _n in result.changes if p in ("out_channels", "out_features"))

        training = self.session.document.training

        def build(r):
            for bid, param, _old, new in result.changes:
                r.set_param(bid, param, new)
            r.set_meta("weights", carrier.weights)
            r.set_meta("weights_ids", {})       # the new file's keys are the blocks' ids now (undone with it)
            if "init_from" in (training or {}):     # runs start from the kept weights, not the unpruned source
                r.set_meta("training", starting_from_kept(training))
        done = self.session.edit(f"Prune {ratio:.0%} of the channels of {what}", build)
        if not done:
            target.unlink(missing_ok=True)
            QMessageBox.warning(self.win, "Cannot prune", done.reason)
            return done
        self.session.message.emit(f"Pruned {n} block(s): {result.before['params']:,} → "
                                  f"{result.after['params']:,} parameters; the kept weights are in {target.name}.")
        self.offer_fine_tune()
        return done

    def _save_first(self) -> bool:
        answer = QMessageBox.question(
            self.win, "Save the graph first",
            "The pruned graph keeps its weights in a file beside the graph, so the graph needs a place on disk. "
            "Save it now?", QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        return answer == QMessageBox.StandardButton.Save and self.win.files.save_as()

    def offer_fine_tune(self) -> bool:
        """Ask whether to fine-tune now: one epoch at a third of the learning rate, starting from the kept
        weights (training starts from the graph's own weights). True when a run was started."""
        answer = QMessageBox.question(
            self.win, "Fine-tune the pruned graph?",
            f"Pruning lowers accuracy until the network adapts. Train {FINETUNE_EPOCHS} epoch now from the kept "
            f"weights, at {FINETUNE_LR_FACTOR:.2g} × the learning rate?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        training = self.win.training
        s = training.panel.settings
        s.epochs.setValue(FINETUNE_EPOCHS)
        s.max_steps.setValue(0)
        s.lr.setValue(s.lr.value() * FINETUNE_LR_FACTOR)
        training.train(this_run_only=True)        # the graph keeps its own epochs and learning rate
        return True
