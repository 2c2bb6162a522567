"""Resuming a stopped run from the Runs tab: the checks before it goes on, the settings the panel shows while it
trains (the run's own, as the trainer really uses them), and what the panel held before, which comes back at the end.
A mixin of TrainingUI (ui.py)."""
from __future__ import annotations

from pathlib import Path

from layerloom.graph.fileformat import graph_to_dict
from layerloom.runtime.config import ConfigError, TrainConfig
from layerloom.runtime.processes import resume_refusal
from layerloom.runtime.runs import read_json

from ..exporting import has_checkpoint, network_of, run_gone


class ResumedRuns:
    def resume_run(self, run) -> bool:
        """The Runs tab's Resume: continue a stopped, interrupted or failed run of the open graph from its latest
        checkpoint."""
        run = Path(run)
        doc = self.session.document
        if self.run.active:
            return False
        gone = run_gone(run)
        if gone:
            self.runs.refresh()
            self.session.message.emit(f"Cannot resume: {gone}")
            return False
        try:
            theirs = network_of(read_json(run / "graph.loom.json"))
            status = None                                    # no summary: its process was killed
            if (run / "summary.json").exists():
                summary = read_json(run / "summary.json")
                status = summary.get("status") if isinstance(summary, dict) else "unreadable"
        except (OSError, ValueError) as exc:
            self.session.message.emit(f"Cannot resume {run.name}: {exc}")
            return False
        if theirs != network_of(graph_to_dict(doc)):
            self.session.message.emit(f"Cannot resume {run.name}: it trained another graph; open that graph first.")
            return False
        if status not in (None, "stopped", "failed") or not has_checkpoint(run):    # (failed: after a checkpoint)
            self.session.message.emit(f"Cannot resume {run.name}: only a stopped, interrupted or failed run with a "
                                      "checkpoint can go on.")
            return False
        refused = resume_refusal(run)        # another process trains it, one on another machine did, a damaged file
        if refused is not None:
            self.session.message.emit(f"Cannot resume {run.name}: {refused}.")
            return False
        self.dock.show()
        self.dock.raise_()
        self.panel.show_message(f"Resuming {run.name} from its last checkpoint.")
        # what the panel holds now comes back when the resumed run ends (edits not used yet are not lost)
        self._typed = (self.config(), dict(doc.training))
        self._begin(doc, {}, None, resume=str(run))
        self._show_run_settings(run)
        return True

    def _show_run_settings(self, run: Path) -> None:
        """While a resumed run trains, the panel shows the settings it trains with (its own, which may not
        be the graph's any more); the graph's come back when it ends (StateViews._run_ended)."""
        try:
            cfg = TrainConfig.from_sources(read_json(run / "config.json"))
        except (OSError, ValueError):
            return
        self.panel.settings.load(cfg, getattr(self.session.document, "weights", None))
        self.panel.set_dataset(cfg.dataset, cfg.dataset_options.get("path"))
        self._loaded_section = None          # not the graph's section on show: it is loaded again at the end

    def show_resumed_settings(self, config: dict | None) -> None:
        """The resumed run has started: the panel shows the settings it really trains with (the trainer's, which
        hold a learning rate changed while it was paused before it stopped, even in a run older than config.json
        recording that)."""
        if not self.run.active or not isinstance(config, dict):
            return
        try:
            cfg = TrainConfig.from_dict(config)
        except ConfigError:
            return
        self.panel.settings.load(cfg, getattr(self.session.document, "weights", None))

    def restore_typed(self) -> bool:
        """After a resumed run: the panel shows again what it held before Resume (settings typed but not used yet),
        unless the graph's training section changed meanwhile (then the graph's). True when it did."""
        typed, self._typed = getattr(self, "_typed", None), None
        if typed is None:
            return False
        values, section = typed
        self.load_from_document()
        if dict(self.session.document.training) != section:
            return True
        try:
            cfg = TrainConfig.from_dict(values)
        except ConfigError:
            return True
        self.panel.settings.load(cfg, getattr(self.session.document, "weights", None))
        if (cfg.dataset, cfg.dataset_options) != (self.dataset_name, self.dataset_options):
            self.dataset_name, self.dataset_options = cfg.dataset, dict(cfg.dataset_options)
            self._dataset_changed()
        self.panel.settings.changed.emit()      # (the memory estimate and the readiness check follow it)
        return True
