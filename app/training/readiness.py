"""Can this graph train on the chosen data set with these settings, now? The Training panel's check:
every problem as (severity, message, fix), shown above Start, and what it means for the run state
(idle, loading_data or ready; see controller.py). A part of TrainingUI (app/training/ui.py), which
it is mixed into."""
from __future__ import annotations

from layerloom.graph.quoting import shown
from layerloom.graph.summary import human
from layerloom.graph.weights import safetensors_problem, weights_path
from layerloom.runtime import devices
from layerloom.runtime.config import DEVICES, ConfigError, TrainConfig
from layerloom.runtime.initial_weights import init_source_problem
from layerloom.runtime.path_problems import in_the_way
from layerloom.runtime.preflight import check_training

from ..panels.training import PATH_KINDS


class Readiness:
    """The check half of TrainingUI: its methods use the TrainingUI's session, data choice and run."""

    def _analysed(self, result) -> None:
        if self.run.active:
            return
        if getattr(self, "followed", None) is not None:
            self.follow(self.followed)      # a note such as "has no input wired" may no longer hold
        if self.info is not None and self._load_key() != self.data_key and self.data_key is not None:
            self._dataset_changed()     # the Input changed: sets that follow it (shapes, folders) reload
            return
        self.recheck()

    def _data_loading(self) -> bool:
        """The chosen set is not loaded yet (and has not failed to load)."""
        key = self._load_key()
        return (key is not None and key not in self.loader.errors
                and (self.bundle is None or self.data_key != key))

    def problems(self) -> list[tuple[str, str, dict | None]]:
        """Everything between the graph, the data set and the settings, as (severity, message, fix)."""
        out: list[tuple[str, str, dict | None]] = []
        if self.config_error:
            out.append(("error", self.config_error, None))
        values = self.config()
        try:
            TrainConfig.from_dict(values)
        except ConfigError as exc:
            out.append(("error", f"Settings: {exc}", None))
        lacking = devices.missing(values.get("device")) if values.get("device") in DEVICES else None
        if lacking:             # a graph saved on a machine with a GPU: the trainer would refuse it at its start
            out.append(("error", f"The training device is {values['device']}, but {lacking}. Choose auto or cpu "
                                 "in the Device list.", None))
        out += self._weights_problems(self._training_section(values).get("init_from"))
        if self.info_error:
            out.append(("error", self.info_error, None))
        blocked = in_the_way(self.runs_base)          # the run's folder is made in it, at its first step
        if blocked:
            out.append(("error", f"Runs cannot be saved: {shown(blocked, 200)}. Choose another runs folder with "
                                 "Folder… in the Runs tab.", None))
        if PATH_KINDS.get(self.dataset_name) and not self.dataset_options.get("path"):
            kind = PATH_KINDS[self.dataset_name]
            out.append(("error", f"Choose the {kind} that holds the data ({kind.title()}… above).", None))
            return out
        result = self.session.result or self.session.flush()
        errors = result.errors if result is not None else []
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more, see Problems)" if len(errors) > 1 else " (see Problems)"
            out.append(("error", f"The graph has an error{more}: {first.text}", first.fix))
        elif self.info is not None:
            for d in check_training(self.session.document, result, self.info, values.get("batch_size")):
                out.append((d.severity, d.text, d.fix))     # the block's name first, where it is about one
        key = self._load_key()
        if key is not None and key in self.loader.errors:
            out.append(("error", self.loader.errors[key], None))
        elif self._data_loading():
            out.append(("info", f"Loading {self.info.title}…", None))
        memory = getattr(self.win, "memory", None)       # the training-memory estimate (app/memory_estimate.py)
        if memory is not None and memory.state == "done" and memory.check is not None and not memory.check.fits:
            out.append(("warning", memory.check.warning, None))
        return out

    def _weights_problems(self, init_from) -> list[tuple[str, str, None]]:
        """The weights a run would start from, when their files are gone or damaged (seen from their headers:
        a graph opened on another machine, a file cut short): the trainer would refuse them at its start."""
        out = []
        own = weights_path(self.session.document)
        problem = safetensors_problem(own, "the graph's weights file") if own is not None else None
        if problem:
            text = shown(problem, 600)
            todo = "put it back next to the graph file" if not own.exists() else "replace it with a whole copy"
            out.append(("error", f"{text[0].upper()}{text[1:]}: {todo}, or import the network again.", None))
        problem = init_source_problem(init_from)
        if problem:
            out.append(("error", f"The weights to start from cannot be read: {shown(problem, 600)}. Choose others "
                                 "with Edit ▸ Initialise Weights From…, or Start Fresh there.", None))
        return out

    def recheck(self) -> None:
        """Run the check, show it, and tell the run controller whether training could start."""
        if self.run.active:
            return
        found = self.problems()
        blocked = any(sev in ("error", "info") for sev, _, _ in found)
        ok_text = ""
        if not blocked and self.info is not None and self.session.result is not None:   # not while loading
            doc = self.session.document
            what = f"{doc.name} ({human(self.session.result.total_params)} parameters) on {self.info.name}."
            warnings = sum(sev == "warning" for sev, _, _ in found)     # it may start, but not with a tick
            ok_text = (f"Can start despite the warning{'s' if warnings > 1 else ''} above: {what}" if warnings
                       else f"✓ Ready: {what}")
        self.panel.set_check(found, ok_text)
        loading = self._data_loading() and not any(sev == "error" for sev, _, _ in found)
        self.run.set_readiness(loading=loading, ready=not blocked)
