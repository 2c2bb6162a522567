"""Training in the editor window: the training panel, live curves, feature maps, epoch results and the
runs list (docked by app/docks.py), wired to a TrainingSession; its actions are rows of app/menus.py.

The flow: the panel's data set and settings + the editor's analysis -> a check (runtime.preflight)
-> Start -> the graph is locked (edits say why) -> the trainer's events fold into a LiveRun -> a
frame timer redraws what changed, at most ~30 times a second -> the run ends -> the graph unlocks
and the runs list shows the new run folder.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QMessageBox, QWidget

from layerloom.graph.fileformat import graph_to_dict
from layerloom.graph.summary import human
from layerloom.runtime.config import ConfigError, TrainConfig
from layerloom.runtime.data import DataError, dataset_info, list_datasets
from layerloom.runtime.data.base import format_shape
from layerloom.runtime.preflight import check_training
from layerloom.runtime.runs import read_json

from . import edits, samples, settings
from .dataset_loader import DatasetLoader, request_key
from .exporting import has_checkpoint, network_of
from layerloom.runtime.live import LiveRun
from .panels.epoch_views import EpochViews
from .panels.feature_maps import FeatureMapsPanel
from .panels.live_plots import LivePlots
from .panels.live_label import LiveLabel
from .panels.runs import RunsPanel
from .panels.training import FILE_FILTERS, PATH_KINDS, ThinProgress, TrainingPanel
from .worker import TrainingSession

FRAME_MS = 33          # at most ~30 redraws a second
# Most views need less. Each pyqtgraph repaint holds the GIL the training thread needs (PySide keeps
# it through C++ calls), so curves redraw 5 times a second and progress text 4 times: measured with
# bench/training_gui.py, that keeps LeNet-5's steps within a few percent of a run without a window.
MIN_INTERVAL_MS = {"progress": 250, "curves": 200}
READ_ONLY = "the graph is read-only while it trains; press Stop (or wait for the run to end) to edit it"
SHUTDOWN_MS = 8000


class TrainingUI(QObject):
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

    # -- the data set -----------------------------------------------------------------------------
    def _input_shape(self):
        inputs = [b for b in self.session.document.blocks.values() if b.kind == "Input"]
        return tuple(inputs[0].full_params()["shape"]) if len(inputs) == 1 else None

    def _dataset_chosen(self, name: str) -> None:
        if name == self.dataset_name:
            return
        section = self.session.document.training
        self.loader.errors.clear()      # choosing again retries a set that failed to load
        self.data_key = None
        self.dataset_name = name
        self.dataset_options = dict(section.get("dataset_options") or {}) if section.get("dataset") == name else {}
        self._dataset_changed()

    def _apply_fix(self, fix: dict) -> None:
        """A fix from the check: a data setting (e.g. resize the images) here, a graph edit otherwise."""
        if fix.get("action") == "set_data_option":
            self.dataset_options[fix["option"]] = fix["value"]
            self.loader.errors.clear()
            self.data_key = None
            self._dataset_changed()
        else:
            edits.apply_fix(self.session, fix)

    def _choose_path(self) -> None:
        kind = PATH_KINDS.get(self.dataset_name, "file")
        start = str(self.dataset_options.get("path", ""))
        if kind == "folder":
            path = QFileDialog.getExistingDirectory(self.win, "Folder of images (one subfolder per class)", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self.win, "Data file", start,
                                                  FILE_FILTERS.get(self.dataset_name, "All files (*)"))
        if path:
            self.dataset_options["path"] = path
            self.loader.errors.clear()
            self.data_key = None
            self._dataset_changed()

    def _dataset_changed(self) -> None:
        """The data set, its options or the Input changed: describe it, let "auto" follow it, load it."""
        self.panel.set_dataset(self.dataset_name, self.dataset_options.get("path"))
        self.info, self.info_error = None, ""
        try:
            self.info = dataset_info(self.dataset_name, input_shape=self._input_shape(), **self.dataset_options)
        except DataError as exc:
            self.info_error = str(exc)
        except (TypeError, ValueError) as exc:
            self.info_error = f"{self.dataset_name}: {exc}"
        self._show_data_info()
        # A file-based set whose file is not chosen yet describes nothing real: no data context then.
        concrete = self.info is not None and (self.dataset_name not in PATH_KINDS or self.dataset_options.get("path"))
        ctx = self.info.data_context() if concrete else None
        if ctx != self.session.analyzer.data:
            self.session.analyzer.set_data(ctx)
            self.session.result = None      # the analysis must follow the new data set's "auto" values
            self.session.flush()
        self._schedule_load()
        self.recheck()

    def _load_key(self):
        if self.info is None or (PATH_KINDS.get(self.dataset_name) and not self.dataset_options.get("path")):
            return None
        seed = self.panel.settings.seed.value()
        return request_key(self.dataset_name, self.dataset_options, self._input_shape(), seed)

    def _panel_visibility(self, visible: bool) -> None:
        # isVisible() stays true for a dock behind another tab; this signal tells whether it can be seen
        self._panel_seen = visible
        if visible:
            self._schedule_load()

    def _schedule_load(self) -> None:
        """Load the chosen set soon, if anyone is looking: the panel can be seen or a start is waiting
        (an editor window that never shows the panel never loads a data set)."""
        if self._panel_seen or self._start_when_loaded:
            self.load_timer.start()

    def _request_data(self) -> None:
        if not (self._panel_seen or self._start_when_loaded):
            return                      # the panel went behind another tab before the timer fired
        key = self._load_key()
        if key is not None and key != self.data_key:
            self.data_key, self.bundle = key, None
            self.loader.request(self.dataset_name, self.dataset_options, self._input_shape(),
                                self.panel.settings.seed.value())
        self.recheck()

    def _settings_changed(self) -> None:
        if self._load_key() != self.data_key:
            self._schedule_load()       # the seed picks the split of generated sets
        self.recheck()

    def _data_loaded(self, key: str, bundle) -> None:
        if key != self.data_key:
            return
        self.bundle = bundle
        images, texts, captions = samples.examples(bundle)
        self.panel.examples.set_samples(images=images, texts=texts, captions=captions)
        self._show_data_info()
        self.recheck()
        if self._start_when_loaded:
            self._start_when_loaded = False
            if self.ready:
                self.start()

    def _data_failed(self, key: str, message: str) -> None:
        self._start_when_loaded = False
        if key == self.data_key:
            self.panel.examples.clear()
            self.recheck()

    def _show_data_info(self) -> None:
        info = self.info
        if info is None:
            self.panel.set_data_info("")
            self.panel.examples.clear()
            return
        listed = self._listed.get(info.name)
        resized = (f" (resized from {format_shape(listed.sample_shape)} to fit the Input)"
                   if listed is not None and not info.vocab_size and listed.sample_shape
                   and tuple(listed.sample_shape) != tuple(info.sample_shape) else "")
        parts = [f"<b>{format_shape(info.sample_shape)}</b> {'token ids' if info.vocab_size else 'per sample'}{resized}",
                 f"<b>{info.num_classes}</b> classes" if info.num_classes else "classes from the files"]
        if info.vocab_size:
            parts.append(f"{info.vocab_size:,} tokens")
        if self.bundle is not None and self.data_key == self._load_key():
            parts.append(f"{len(self.bundle.train):,} train / {len(self.bundle.val):,} val")
        self.panel.set_data_info(" · ".join(parts))
        if self.bundle is None:
            self.panel.examples.clear()

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

    # -- events and redraws ------------------------------------------------------------------------
    def _on_event(self, event: dict) -> None:
        if event.get("type") == "started":
            self._health_notes = []
        elif event.get("type") == "health" and event.get("new_problems"):     # runtime/health.py's findings
            self._health_notes += [p["text"] for p in event["new_problems"]]
            self.panel.show_message(self._health_text(), "warning")
        self._dirty |= self.live.apply(event)
        if not self.frame.isActive():
            self.frame.start()

    def _health_text(self) -> str:
        notes = self._health_notes
        return ("Training health: " + " ".join(f"{n}." for n in notes)) if notes else ""

    def _redraw(self, everything: bool = False) -> None:
        """One frame: update the views whose data changed (each at most at its own rate, and epoch results
        in a frame of their own); `everything`: all that changed, now (the run has ended)."""
        now = time.monotonic()
        dirty = set(self._dirty)
        pace = not everything and self.live.state in ("running", "paused") and "started" not in dirty
        for view, ms in MIN_INTERVAL_MS.items():
            if pace and view in dirty and now - self._last_drawn.get(view, 0.0) < ms / 1000:
                dirty.discard(view)          # too soon: it stays dirty for a later frame
        if pace and "epoch" in dirty:
            dirty &= {"epoch", "progress", "state"}
        self._dirty -= dirty
        for view in dirty:
            self._last_drawn[view] = now
        if self._dirty:
            self.frame.start()
        live = self.live
        if "started" in dirty and live.started:
            self._run_started(live.started)
        if "curves" in dirty:
            self.plots.refresh()
        if "maps" in dirty:
            target = self.maps.block
            ev = live.maps.get(target) if target else None
            if ev is not None and ev is not self.maps.current:
                self.maps.set_maps(ev)
        if "prediction" in dirty and live.prediction is not None:
            self.maps.set_prediction(live.prediction["probabilities"])
        if "epoch" in dirty and live.last_epoch is not None:
            self.epochs.show_epoch(live.last_epoch)
        if "state" in dirty:
            self._show_state()
        if dirty & {"progress", "state", "started"}:
            self._show_progress()

    def _run_started(self, e: dict) -> None:
        self.plots.start(self.live)
        vocab = self.run_bundle.info.vocabulary if self.run_bundle is not None else ()
        self.maps.set_run_info(e["class_names"], vocab, e.get("probe_input"), e.get("probe_label"),
                               e.get("probe_index", 0))
        if self.run_bundle is None:       # resumed or loaded by the trainer itself
            self.epochs.class_names = list(e["class_names"])
        self.follow(self.followed)
        if e.get("warnings"):
            self.panel.show_message(" ".join(e["warnings"]), "warning")

    def _show_state(self) -> None:
        live = self.live
        state = live.state
        if state == "failed":
            self.panel.show_message(f"Training failed: {live.message}", "error")
            self.dock.raise_()
            self.win.statusBar().showMessage(f"Training failed: {live.message}", 15000)
        elif state in ("finished", "stopped"):
            s = live.summary or {}
            acc = s.get("val_accuracy")
            acc_text = f", validation accuracy {acc * 100:.2f}%" if isinstance(acc, float) else ""
            health = self._health_text()
            self.panel.show_message(f"Run {state}{acc_text}. Checkpoint and metrics are in "
                                    f"{Path(self.training.last_run_dir or '').name}." + (f" {health}" if health else ""),
                                    "warning" if health else "info")
        elif state == "paused":
            self.panel.show_message("Paused. You can change the learning rate, then resume.")
        elif state == "running" and self.training.running:
            msg = self.panel.message.text()
            if msg.startswith("Paused"):
                self.panel.show_message("")
        if self.training.running:
            self._set_state("paused" if state == "paused" else "running")

    def _show_progress(self) -> None:
        live = self.live
        text = live.progress_text()
        if self._stopping and self.training.running:
            text = "Stopping: saving a checkpoint…"
        self.panel.set_progress(live.fraction, text)
        self.status_bar.set_fraction(live.fraction)
        name = self.trained_doc.name if self.trained_doc is not None else ""
        if self.training.running:
            self.status_text.setText(f"Training: {live.progress_text(short=True)} · graph read-only")
        elif live.state == "failed":
            self.status_text.setText(f"{name}: training failed")
        elif live.started:
            self.status_text.setText(f"{name}: {text}")

    def _runs_folder_changed(self, path: str) -> None:
        self.runs_base = Path(path)
        settings.set_runs_dir(path)

    def set_runs_folder(self, path) -> None:
        """Where new runs go and which runs the list shows (not remembered; the list's Folder… is)."""
        self.runs_base = Path(path)
        self.runs.set_base(self.runs_base)

    # -- closing ----------------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = SHUTDOWN_MS) -> bool:
        """Stop a run and the data loader and wait for their threads (the window is closing)."""
        self.frame.stop()
        self.load_timer.stop()
        ok = self.training.shutdown(timeout_ms)
        self.loader.shutdown(timeout_ms)
        self._unlock_all()
        return ok
