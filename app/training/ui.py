"""Training in the editor window: the training panel, live curves, feature maps, epoch results and the
runs list (docked by app/docks.py), wired to a TrainingSession; its actions are rows of app/menus.py.

The flow: the panel's data set and settings + the editor's analysis -> a check (runtime.preflight)
-> Start -> the graph is locked (edits say why) -> the trainer's events fold into a LiveRun -> a
frame timer redraws what changed, at most ~30 times a second -> the run ends -> the graph unlocks
and the runs list shows the new run folder.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QWidget

from layerloom.graph.fileformat import graph_to_dict
from layerloom.graph.summary import human
from layerloom.runtime.config import ConfigError, TrainConfig
from layerloom.runtime.data import list_datasets
from layerloom.runtime.preflight import check_training
from layerloom.runtime.runs import read_json

from .. import samples, settings
from .data_loader import DatasetLoader
from ..exporting import has_checkpoint, network_of
from layerloom.runtime.live import LiveRun
from ..panels.epoch_views import EpochViews
from ..panels.feature_maps import FeatureMapsPanel
from ..panels.live_plots import LivePlots
from ..panels.live_label import LiveLabel
from ..panels.runs import RunsPanel
from ..panels.training import PATH_KINDS, ThinProgress, TrainingPanel
from .run_thread import TrainingSession
from .data_choice import DataChoice
from .live_views import FRAME_MS, LiveViews

READ_ONLY = "the graph is read-only while it trains; press Stop (or wait for the run to end) to edit it"
SHUTDOWN_MS = 8000


class TrainingUI(DataChoice, LiveViews, QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.session = win.session
        self.training = TrainingSession(self)
        self.loader = DatasetLoader(self)
        self.live = LiveRun()
        self.runs_base = settings.runs_dir()
        self.dataset_name = "mnist-sample"
        self.dataset_options: dict = {}
        self.info = None
        self.info_error = ""
        self.config_error = ""
        self.data_key: str | None = None
        self.bundle = None
        self.ready = False
        self.followed: str | None = None
        self.trained_doc = None
        self.run_bundle = None
        self._dirty: set[str] = set()
        self._health_notes: list[str] = []     # this run's training-health findings
        self._last_drawn: dict[str, float] = {}
        self._stopping = False
        self._locked: list = []        # documents made read-only for the active run
        self._start_when_loaded = False
        self._panel_seen = False       # the training panel can be seen (not just "visible" behind a tab)

        listed = list_datasets()
        self._listed = {info.name: info for info in listed}
        self.panel = TrainingPanel(listed)
        self.plots = LivePlots()
        self.maps = FeatureMapsPanel()
        self.epochs = EpochViews()
        self.runs = RunsPanel(self.runs_base)
        self.start_action = win.actions_by_name["train_start"]
        self.pause_action = win.actions_by_name["train_pause"]
        self.stop_action = win.actions_by_name["train_stop"]
        self._build_status()

        self.frame = QTimer(self)
        self.frame.setSingleShot(True)
        self.frame.setInterval(FRAME_MS)
        self.frame.timeout.connect(self._redraw)
        self.load_timer = QTimer(self)
        self.load_timer.setSingleShot(True)
        self.load_timer.setInterval(250)
        self.load_timer.timeout.connect(self._request_data)

        p = self.panel
        p.dataset_chosen.connect(self._dataset_chosen)
        p.path_requested.connect(self._choose_path)
        p.start_clicked.connect(self.start)
        p.pause_clicked.connect(self.toggle_pause)
        p.stop_clicked.connect(self.stop)
        p.fix_clicked.connect(self._apply_fix)
        p.settings.changed.connect(self._settings_changed)
        p.settings.lr_edited.connect(self._lr_edited)
        self.training.event.connect(self._on_event)
        self.training.running_changed.connect(self._running_changed)
        self.loader.loaded.connect(self._data_loaded)
        self.loader.failed.connect(self._data_failed)
        self.session.analysed.connect(self._analysed)
        self.session.document_replaced.connect(self._document_replaced)
        self.session.meta_changed.connect(self._meta_changed)
        self.runs.folder_changed.connect(self._runs_folder_changed)
        self.load_from_document()

    # -- building -------------------------------------------------------------------------------
    def connect_docks(self, docks: dict) -> None:
        """The window has docked the panels (app/docks.py)."""
        self.dock, self.maps_dock = docks["training"], docks["feature_maps"]
        self.curves_dock, self.epochs_dock, self.runs_dock = docks["curves"], docks["epoch_results"], docks["runs"]
        self.runs_dock.visibilityChanged.connect(lambda visible: visible and self.runs.refresh())
        self.dock.visibilityChanged.connect(self._panel_visibility)

    def _build_status(self) -> None:
        self.status = QWidget()
        h = QHBoxLayout(self.status)
        h.setContentsMargins(0, 0, 6, 0)
        self.status_bar = ThinProgress(6)
        self.status_bar.setFixedWidth(120)
        self.status_text = LiveLabel()
        self.status_text.setFixedWidth(430)
        h.addWidget(self.status_text)
        h.addWidget(self.status_bar)
        self.win.statusBar().addPermanentWidget(self.status)
        self.status.hide()

    # -- settings from and to the graph -----------------------------------------------------------
    def _document_replaced(self, _doc) -> None:
        if not self.training.running:
            self.forget_run()       # another graph: its canvas never shows this run's curves and maps
        self.load_from_document()

    def forget_run(self) -> None:
        """Clear the views of the last run (they belonged to the graph that was open)."""
        self.live = LiveRun()
        self.trained_doc = None
        self.run_bundle = None
        self._dirty.clear()
        self.plots.live = None
        self.plots.clear()
        self.epochs.clear()
        self.maps.set_run_info([])
        self.status.hide()
        self.panel.set_progress(0.0, "")
        self.panel.show_message("")
        self.follow(None)

    def stop_before(self, doing: str) -> bool:
        """During a run, ask "Stop training and <doing>?". Yes stops the run (it keeps a checkpoint) and
        waits until it has ended; True when nothing is running any more."""
        if not self.training.running:
            return True
        answer = QMessageBox.question(
            self.win, "Training is running",
            f"Stop training and {doing}?\n\nThe run keeps a checkpoint of where it stopped; the Runs tab can "
            "resume it.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        return self.stop_and_wait()

    def stop_and_wait(self, timeout_ms: int = SHUTDOWN_MS) -> bool:
        """Stop the run and let its last events arrive (the views end in their final state)."""
        if not self.training.running:
            return True
        loop = QEventLoop()
        self.training.running_changed.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.stop()
        if self.training.running:
            loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        self.training.running_changed.disconnect(loop.quit)
        if self.training.running:            # the step did not end in time: stop waiting for events
            self.training.shutdown(timeout_ms)
        return not self.training.running

    def load_from_document(self) -> None:
        """Fill the panel from the graph's training section (the defaults where it says nothing)."""
        if self.training.running:
            self._lock(self.session.document)   # another graph opened mid-run: read-only too, until it ends
            return
        doc = self.session.document
        self.config_error = ""
        try:
            cfg = TrainConfig.from_sources(doc.training)
        except ConfigError as exc:
            self.config_error = f"The graph's training section: {exc}"
            cfg = TrainConfig()
        self._loaded_section = dict(doc.training)
        self.panel.settings.load(cfg)
        self.dataset_name = cfg.dataset
        self.dataset_options = dict(cfg.dataset_options)
        self._dataset_changed()

    def _meta_changed(self) -> None:
        doc = self.session.document
        if dict(doc.training) != getattr(self, "_loaded_section", None) and not self.training.running:
            self.load_from_document()

    def config(self) -> dict:
        values = self.panel.settings.values()
        values["dataset"] = self.dataset_name
        values["dataset_options"] = dict(self.dataset_options)
        return values

    def _training_section(self, values: dict) -> dict:
        """The graph's training section with the panel's values (only those that differ from the defaults
        are added; keys the section already has are updated)."""
        defaults = TrainConfig().to_dict()
        section = dict(self.session.document.training)
        for key, value in values.items():
            if key in section or value != defaults.get(key) or key == "dataset":
                section[key] = value
        if not section.get("dataset_options"):
            section.pop("dataset_options", None)
        if not section.get("augment") and "augment" not in self.session.document.training:
            section.pop("augment", None)
        return section

    # -- the check ----------------------------------------------------------------------------------
    def _analysed(self, result) -> None:
        if self.training.running:
            return
        if getattr(self, "followed", None) is not None:
            self.follow(self.followed)      # a note such as "has no input wired" may no longer hold
        if self.info is not None and self._load_key() != self.data_key and self.data_key is not None:
            self._dataset_changed()     # the Input changed: sets that follow it (shapes, folders) reload
            return
        self.recheck()

    def problems(self) -> list[tuple[str, str, dict | None]]:
        """Everything between the graph, the data set and the settings, as (severity, message, fix)."""
        out: list[tuple[str, str, dict | None]] = []
        if self.config_error:
            out.append(("error", self.config_error, None))
        try:
            TrainConfig.from_dict(self.config())
        except ConfigError as exc:
            out.append(("error", f"Settings: {exc}", None))
        if self.info_error:
            out.append(("error", self.info_error, None))
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
            for d in check_training(self.session.document, result, self.info):
                out.append((d.severity, d.message, d.fix))
        key = self._load_key()
        if key is not None and self.info is not None:
            if key in self.loader.errors:
                out.append(("error", self.loader.errors[key], None))
            elif self.bundle is None or self.data_key != key:
                out.append(("info", f"Loading {self.info.title}…", None))
        return out

    def recheck(self) -> None:
        if self.training.running:
            return
        found = self.problems()
        self.ready = not any(sev in ("error", "info") for sev, _, _ in found)
        ok_text = ""
        if self.info is not None and self.session.result is not None:
            doc = self.session.document
            ok_text = (f"✓ Ready: {doc.name} ({human(self.session.result.total_params)} parameters) on "
                       f"{self.info.name}.")
        self.panel.set_check(found, ok_text)
        self._set_state("idle")

    def _set_state(self, state: str) -> None:
        self.panel.set_state(state, self.ready)
        self.start_action.setEnabled(state == "idle")
        self.pause_action.setEnabled(state in ("running", "paused"))
        self.stop_action.setEnabled(state in ("running", "paused"))

    # -- running --------------------------------------------------------------------------------------
    def train(self) -> None:
        """▶ Train: start now if everything is ready, or as soon as the data set has loaded."""
        self.dock.show()
        self.dock.raise_()
        if self.training.running:
            return
        self.recheck()
        if self.ready:
            self.start()
        elif not any(sev == "error" for sev, _, _ in self.problems()):
            self._start_when_loaded = True
            self._request_data()

    def start(self) -> bool:
        """Start training with the panel's settings; False (with the reason shown) when it cannot."""
        if self.training.running:
            return False
        self.recheck()
        if not self.ready:
            self.panel.show_message("Training cannot start yet: see the check above.", "warning")
            return False
        values = self.config()
        try:
            TrainConfig.from_dict(values)
        except ConfigError as exc:
            self.panel.show_message(str(exc), "error")
            return False
        doc = self.session.document
        section = self._training_section(values)
        if section != doc.training:
            self._loaded_section = dict(section)
            self.session.edit("Use the training settings", lambda r: r.set_meta("training", section))
        self.panel.show_message("")
        self._begin(doc, values, self.bundle)
        return True

    def _begin(self, doc, values: dict, bundle, resume: str | None = None) -> None:
        """A new run of `doc` (or the resumed run `resume`): fresh views, then the trainer's thread."""
        self.trained_doc = doc.copy()
        self.run_bundle = bundle
        self.live = LiveRun()
        self.plots.live = None
        self._stopping = False
        self._dirty.clear()
        self._prepare_views()
        self._update_taps()
        self.training.start(doc, values, self.runs_base, data=bundle, resume=resume)

    def resume_run(self, run) -> bool:
        """The Runs tab's Resume: continue a stopped run of the open graph from its latest checkpoint."""
        run = Path(run)
        doc = self.session.document
        if self.training.running:
            return False
        try:
            theirs = network_of(read_json(run / "graph.loom.json"))
            status = (read_json(run / "summary.json") if (run / "summary.json").exists() else {}).get("status")
        except (OSError, ValueError) as exc:
            self.session.message.emit(f"Cannot resume {run.name}: {exc}")
            return False
        if theirs != network_of(graph_to_dict(doc)):
            self.session.message.emit(f"Cannot resume {run.name}: it trained another graph; open that graph first.")
            return False
        if status != "stopped" or not has_checkpoint(run):
            self.session.message.emit(f"Cannot resume {run.name}: only a stopped run with a checkpoint can go on.")
            return False
        self.dock.show()
        self.dock.raise_()
        self.panel.show_message(f"Resuming {run.name} from its last checkpoint.")
        self._begin(doc, {}, None, resume=str(run))
        return True

    def _prepare_views(self) -> None:
        """Everything a run's views need that is known before it starts (the layout settles now, after
        the click, rather than while the first steps stream in)."""
        bundle = self.run_bundle
        names = list(bundle.info.class_names) if bundle is not None else []
        self.plots.clear()
        images, texts = samples.validation_samples(bundle) if bundle is not None else (None, None)
        self.epochs.start(names, images, texts)
        for dock in (self.maps_dock, self.epochs_dock):
            if dock.isHidden():
                dock.show()
        self.curves_dock.raise_()
        self.dock.raise_()
        if self.win.isVisible():
            w = self.win
            w.resizeDocks([self.curves_dock], [max(self.curves_dock.height(), 330)], Qt.Orientation.Vertical)
            w.resizeDocks([self.dock, self.maps_dock], [max(1, w.height() - 470), 400], Qt.Orientation.Vertical)
            w.resizeDocks([self.dock], [max(self.dock.width(), 350)], Qt.Orientation.Horizontal)
            w.resizeDocks([self.curves_dock, self.epochs_dock], [3, 2], Qt.Orientation.Horizontal)
        self.follow(self.followed)

    def toggle_pause(self) -> None:
        if not self.training.running:
            return
        if self.training.paused:
            self.training.resume()
        else:
            self.training.pause()

    def stop(self) -> None:
        if self.training.running:
            self._stopping = True
            self.training.stop()
            self.panel.set_progress(self.live.fraction, "Stopping: saving a checkpoint…")

    def _lr_edited(self, lr: float) -> None:
        if self.training.paused:
            self.training.set_lr(lr)
            self.panel.show_message(f"The learning rate becomes {lr:g} when you resume.")

    def _restore_settings_lr(self) -> None:
        """A learning rate changed while paused applied to that run only: the settings (and so the next run)
        go back to the graph's own learning rate."""
        doc = self.session.document
        try:
            lr = TrainConfig.from_sources(doc.training).lr
        except ConfigError:
            return
        if self.panel.settings.lr.value() != lr:
            self.panel.settings.lr.setValue(lr)

    def _running_changed(self, running: bool) -> None:
        """The graph is read-only while a run is active: edits (and undoing them) say why."""
        doc = self.session.document
        if running:
            self._lock(doc)
            self._set_state("running")
            self.status.show()
            self.status_text.setText(f"Starting {doc.name}…")
            self.session.message.emit("Training started: the graph is read-only until the run ends.")
            return
        self._unlock_all()
        self._redraw(everything=True)
        self._restore_settings_lr()
        self.recheck()
        self.runs.refresh(select=self.training.last_run_dir)
        ended = {"failed": "Training failed", "stopped": "Training stopped",
                 "finished": "Training finished"}.get(self.live.state, "Training ended")
        self.session.message.emit(f"{ended}: the graph can be edited again.")

    def _lock(self, doc) -> None:
        if not doc.locked:
            self.session.set_locked(doc, READ_ONLY)
            self._locked.append(doc)

    def _unlock_all(self) -> None:
        for doc in self._locked:
            if doc.locked == READ_ONLY:
                self.session.set_locked(doc, None)
        self._locked.clear()

    def _update_taps(self) -> None:
        doc = self.trained_doc or self.session.document
        out = [b for b in doc.blocks.values() if b.kind == "Output"]
        last = [e.src for e in doc.edges_into(out[0].id)] if out else []
        wanted = set(last)
        target = self._tap_target(self.followed)
        if target:
            wanted.add(target)
        self.training.tap(sorted(wanted))

    def _tap_target(self, block_id):
        doc = self.trained_doc if self.training.running and self.trained_doc is not None else self.session.document
        if block_id is None or block_id not in doc.blocks:
            return None
        if doc.blocks[block_id].kind == "Output":
            into = doc.edges_into(block_id)
            return into[0].src if into else None
        return block_id

    def follow(self, block_id) -> None:
        """Show the activations of `block_id` (the canvas selection) in the feature-maps panel."""
        self.followed = block_id
        target = self._tap_target(block_id)
        self._update_taps()
        doc = self.trained_doc if self.training.running and self.trained_doc is not None else self.session.document
        if block_id is not None and target is None:
            note = (f"{block_id} is not part of the graph being trained." if block_id not in doc.blocks
                    else f"{block_id} has no input wired.")
            self.maps.show_block(block_id, note=note)
            return
        kind = doc.blocks[target].kind if target else ""
        label = kind if target == block_id else f"{kind} (what the Output receives)"
        self.maps.show_block(target, label, self.live.maps.get(target), self.training.running)

    # -- closing ----------------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = SHUTDOWN_MS) -> bool:
        """Stop a run and the data loader and wait for their threads (the window is closing)."""
        self.frame.stop()
        self.load_timer.stop()
        ok = self.training.shutdown(timeout_ms)
        self.loader.shutdown(timeout_ms)
        self._unlock_all()
        return ok
