"""Training in the editor window: the training panel, live curves, feature maps, epoch results and the
runs list (docked by app/docks.py), wired to the run controller; its actions are rows of app/menus.py.

The flow: the panel's data set and settings + the editor's analysis -> a check (readiness.py) -> the
run controller's state (controller.py: idle, loading_data, ready) -> Start -> running: the graph is
locked (state_views.py) -> the trainer's events fold into the controller's LiveRun -> a frame timer
redraws what changed, at most ~30 times a second (live_views.py) -> the run ends (finished, failed
or stopped) -> the graph unlocks and the runs list shows the new run folder.
"""
from __future__ import annotations

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QSizePolicy, QWidget

from layerloom.runtime.config import ConfigError, TrainConfig
from layerloom.runtime.data import list_datasets

from .. import samples, settings
from .data_loader import DatasetLoader
from ..panels.epoch_views import EpochViews
from ..panels.feature_maps import FeatureMapsPanel
from ..panels.live_plots import LivePlots
from ..status_room import ElidedLabel
from ..panels.runs import RunsPanel
from ..panels.training import ThinProgress, TrainingPanel
from .controller import ACTIVE, RunController, RunState
from .data_choice import DataChoice
from .live_views import FRAME_MS, LiveViews
from .readiness import Readiness
from .resumed_runs import ResumedRuns
from .state_views import StateViews

SHUTDOWN_MS = 8000
CANNOT_START = "Training cannot start yet: see the check above."
STOPPING = "Stopping the run: it ends once the step or validation it is in has ended…"
LEFT_TO_END = ("The run is still in a long step or validation: it ends on its own once that is done, and keeps "
               "its last checkpoint")
CURVES_BESIDE_VALIDATION = 1200     # a narrower window shows Validation as a tab beside Curves


def _switched_on(augment) -> dict | None:
    """An augment setting without the steps it switches off (0 or false)."""
    return {k: v for k, v in augment.items() if v} if isinstance(augment, dict) else augment


class TrainingUI(DataChoice, Readiness, ResumedRuns, LiveViews, StateViews, QObject):
    """The training side of the window: its panels, the data choice, the check and the run controller
    (`run`, the one owner of the run state), put together."""

    @staticmethod
    def _panel_makers(listed) -> tuple:
        """(attribute, maker) of each panel, given the listed data sets."""
        return (("panel", lambda: TrainingPanel(listed)), ("plots", LivePlots), ("maps", FeatureMapsPanel),
                ("epochs", EpochViews), ("runs", lambda: RunsPanel(settings.runs_dir())))

    @classmethod
    def made_in_steps(cls, win):
        """Make the training side one panel at a time: a generator that yields after each panel (the window
        handles input and paints between, see MainWindow._build_next) and returns the TrainingUI."""
        listed = list_datasets()
        panels = {}
        for name, make in cls._panel_makers(listed):
            panels[name] = make()
            yield
        return cls(win, listed, panels)

    def __init__(self, win, listed=None, panels: dict | None = None):
        """`listed` and `panels` as made_in_steps makes them; made here when not given."""
        super().__init__(win)
        self.win = win
        self.session = win.session
        self.run = RunController(self)
        self.training = self.run.runner      # the run thread's bridge (last_run_dir, taps)
        self.loader = DatasetLoader(self)
        self.runs_base = settings.runs_dir()
        self._left_to_end: str | None = None    # a run left to end on its own (stop_and_wait)
        self.dataset_name = "mnist-sample"
        self.dataset_options: dict = {}
        self.info = None
        self.info_error = ""
        self.config_error = ""
        self.data_key: str | None = None
        self.bundle = None
        self.followed: str | None = None
        self.trained_doc = None
        self.health_doc = None
        self.run_bundle = None
        self._dirty: set[str] = set()
        self._health_notes: list[str] = []     # this run's training-health findings
        self._last_drawn: dict[str, float] = {}
        self._waiting: set[str] = set()      # dirty views held back by their pace (MIN_INTERVAL_MS)
        self._unseen: set[str] = set()       # dirty views nobody can see now (live_views.SEEN_IN)
        self._locked: list = []        # documents made read-only for the active run
        self._panel_seen = False       # the training panel can be seen (not just "visible" behind a tab)

        listed = list_datasets() if listed is None else listed
        self._listed = {info.name: info for info in listed}
        if panels is None:
            panels = {name: make() for name, make in self._panel_makers(listed)}
        self.panel, self.plots, self.maps, self.epochs, self.runs = (
            panels["panel"], panels["plots"], panels["maps"], panels["epochs"], panels["runs"])
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
        self.run.event.connect(self._on_event)
        self.run.folded.connect(self._folded)
        self.run.state_changed.connect(self._state_changed)
        self.run.pending_changed.connect(lambda _pending: self._render_state())
        self.loader.loaded.connect(self._data_loaded)
        self.loader.failed.connect(self._data_failed)
        self.session.analysed.connect(self._analysed)
        self.session.document_replaced.connect(self._document_replaced)
        self.session.meta_changed.connect(self._meta_changed)
        self.runs.folder_changed.connect(self._runs_folder_changed)
        self._render_state()
        self.plots.health.block_clicked.connect(lambda block: self.win.focus_block(block))
        self.load_from_document()

    @property
    def live(self):
        """The run on show, folded from the trainer's events (runtime/live.py)."""
        return self.run.live

    @property
    def ready(self) -> bool:
        """Start would start a run now (the check passed and the data set is loaded)."""
        return self.run.can_start()

    # -- building -------------------------------------------------------------------------------
    def connect_docks(self, docks: dict) -> None:
        """The window has docked the panels (app/docks.py)."""
        self.dock, self.maps_dock = docks["training"], docks["feature_maps"]
        self.curves_dock, self.epochs_dock, self.runs_dock = docks["curves"], docks["epoch_results"], docks["runs"]
        self.runs_dock.visibilityChanged.connect(lambda visible: visible and self.runs.refresh())
        self.dock.visibilityChanged.connect(self._panel_visibility)
        for dock in (self.curves_dock, self.maps_dock, self.epochs_dock):
            dock.visibilityChanged.connect(self._views_shown)

    def _build_status(self) -> None:
        self.status = QWidget()
        self.status.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)   # room left goes to messages
        h = QHBoxLayout(self.status)
        h.setContentsMargins(0, 0, 6, 0)
        self.status_bar = ThinProgress(6)
        self.status_bar.setFixedWidth(120)
        self.status_text = ElidedLabel()
        self.status_text.setForegroundRole(QPalette.ColorRole.PlaceholderText)     # muted beside the summary
        h.addWidget(self.status_text)
        h.addWidget(self.status_bar)
        self.win.statusBar().addPermanentWidget(self.status)
        self.status.hide()

    # -- settings from and to the graph -----------------------------------------------------------
    def _document_replaced(self, _doc) -> None:
        if not self.run.active:
            self.forget_run()       # another graph: its canvas never shows this run's curves and maps
        self.load_from_document()

    def forget_run(self) -> None:
        """Clear the views of the last run (they belonged to the graph that was open)."""
        self.run.forget()
        self.trained_doc = None
        self.run_bundle = None
        self._forget_frames()
        self.plots.live = None
        self.plots.clear()
        self.epochs.clear()
        self.maps.set_run_info([])
        self.status.hide()
        self.panel.set_progress(0.0, "")
        self.panel.show_message("")
        self.follow(None)

    def asks_to_stop(self, doing: str) -> bool:
        """During a run, ask "Stop training and <doing>?": True when nothing runs, the run is stopping
        already, or the answer is Yes. The caller then stops it (`stop_and_wait`, which keeps a checkpoint)
        once nothing else it asks can still be cancelled (Files.may_replace)."""
        if not self.run.active or self.run.state == RunState.STOPPING:
            return True
        answer = QMessageBox.question(
            self.win, "Training is running",
            f"Stop training and {doing}?\n\nThe run keeps a checkpoint of where it stopped; the Runs tab can "
            "resume it.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def stop_and_wait(self, timeout_ms: int = SHUTDOWN_MS) -> bool:
        """Stop the run and let its last events arrive (the views end in their final state)."""
        if not self.run.active:
            return True
        loop = QEventLoop()

        def ended(new, _old):
            if new not in ACTIVE:
                loop.quit()
        self.run.state_changed.connect(ended)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.stop()
        if self.run.active:
            self.win.statusBar().showMessage(STOPPING)
            loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        self.run.state_changed.disconnect(ended)
        if self.run.active:            # the step did not end in time: stop waiting for it (not a second wait)
            thread, folder = self.training.thread, (self.live.started or {}).get("run_dir")
            self.run.shutdown(0)
            self.win.statusBar().showMessage(LEFT_TO_END)
            if thread is not None and thread.isRunning() and folder:    # it still writes its folder: the list
                self._left_to_end = folder                              # says "training" there until it ends
                self.runs.set_training(True, folder)
                thread.finished.connect(self._left_run_ended, Qt.ConnectionType.QueuedConnection)
        return not self.run.active

    def _left_run_ended(self) -> None:
        """A run left to end on its own (stop_and_wait) has ended: its row shows how it ended."""
        folder, self._left_to_end = self._left_to_end, None
        if folder is None:
            return
        if not self.run.active:
            self.runs.set_training(False)
        self.runs.show_run(folder)

    def load_from_document(self) -> None:
        """Fill the panel from the graph's training section (the defaults where it says nothing)."""
        if self.run.active:
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
        self.panel.settings.load(cfg, getattr(doc, "weights", None))
        self.dataset_name = cfg.dataset
        self.dataset_options = dict(cfg.dataset_options)
        self._dataset_changed()

    def _meta_changed(self) -> None:
        doc = self.session.document
        if dict(doc.training) != getattr(self, "_loaded_section", None) and not self.run.active:
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
            if key == "augment" and _switched_on(section.get(key)) == _switched_on(value):
                continue                  # the same augmentation ({"hflip": false} is one left off)
            if key in section or value != defaults.get(key) or key == "dataset":
                section[key] = value
        if not section.get("dataset_options"):
            section.pop("dataset_options", None)
        if not section.get("augment") and "augment" not in self.session.document.training:
            section.pop("augment", None)
        return section

    # -- running --------------------------------------------------------------------------------------
    def train(self, this_run_only: bool = False) -> None:
        """▶ Train: start now if everything is ready, or as soon as the data set has loaded. With
        `this_run_only`, the panel's settings are the run's and are not written into the graph (Prune's
        fine-tuning run, set up on the panel); the graph's own come back to the panel when it ends."""
        self._this_run_only = this_run_only
        self.win.commit_typing()          # a batch size typed but not confirmed is the run's
        self.dock.show()
        self.dock.raise_()
        if self.run.active:
            return
        self.recheck()
        if self.ready:
            self.start()
        elif self.run.state == RunState.LOADING_DATA:
            self.run.request_start()
            self._request_data()
        else:                             # F5 from anywhere: say why nothing starts (not an earlier run's news)
            self.panel.show_message(CANNOT_START, "warning")

    def start(self) -> bool:
        """Start training with the panel's settings; False (with the reason shown) when it cannot."""
        if self.run.active:
            return False
        self.win.commit_typing()
        self.recheck()
        if not self.ready:
            self.panel.show_message(CANNOT_START, "warning")
            return False
        values = self.config()
        try:
            TrainConfig.from_dict(values)
        except ConfigError as exc:
            self.panel.show_message(str(exc), "error")
            return False
        doc = self.session.document
        section = self._training_section(values)
        if getattr(self, "_this_run_only", False):
            self._this_run_only = False
            self._loaded_section = None           # the graph's settings are loaded again when the run ends
        elif section != doc.training:
            self._loaded_section = dict(section)
            self.session.edit("Keep the training settings in the graph", lambda r: r.set_meta("training", section))
        self.panel.show_message("")
        self._begin(doc, values, self.bundle)
        return True

    def _begin(self, doc, values: dict, bundle, resume: str | None = None) -> None:
        """A new run of `doc` (or the resumed run `resume`): fresh views, then the trainer's thread."""
        self.trained_doc = doc.copy()
        self.health_doc = doc              # the document the run's health findings are about
        self.run_bundle = bundle
        self._forget_frames()
        self.run.start(doc, values, self.runs_base, bundle=bundle, resume=resume)
        self._prepare_views(resumed=resume is not None)
        self._update_taps()

    def _prepare_views(self, resumed: bool = False) -> None:
        """Everything a run's views need that is known before it starts (the layout settles now, after
        the click, rather than while the first steps stream in)."""
        bundle = self.run_bundle
        names = list(bundle.info.class_names) if bundle is not None else []
        self.plots.preparing()
        images, texts = samples.validation_samples(bundle) if bundle is not None else (None, None)
        self.epochs.start(names, images, texts, resumed)
        tabbed = self.epochs_dock.isHidden() and self.win.width() < CURVES_BESIDE_VALIDATION
        for dock in (self.maps_dock, self.epochs_dock):
            if dock.isHidden():
                dock.show()
        if tabbed:          # a small window: side by side, both were cut (plots, readout, tab names elided)
            self.win.tabifyDockWidget(self.curves_dock, self.epochs_dock)
        self.curves_dock.raise_()
        self.dock.raise_()
        if self.win.isVisible():
            w = self.win
            w.resizeDocks([self.curves_dock], [max(self.curves_dock.height(), 330)], Qt.Orientation.Vertical)
            w.resizeDocks([self.dock, self.maps_dock], [max(1, w.height() - 470), 400], Qt.Orientation.Vertical)
            w.resizeDocks([self.dock], [max(self.dock.width(), 350)], Qt.Orientation.Horizontal)
            if self.epochs_dock not in w.tabifiedDockWidgets(self.curves_dock):
                w.resizeDocks([self.curves_dock, self.epochs_dock], [3, 2], Qt.Orientation.Horizontal)
        self.follow(self.followed)

    def toggle_pause(self) -> None:
        self.run.toggle_pause()

    def stop(self) -> None:
        self.run.stop()

    def _lr_edited(self, lr: float) -> None:
        if self.run.state == RunState.PAUSED:
            self.run.set_lr(lr)
            self.panel.show_message(f"The learning rate becomes {lr:g} when you resume.")

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
        doc = self.trained_doc if self.run.active and self.trained_doc is not None else self.session.document
        if block_id is None or block_id not in doc.blocks:
            return None
        if doc.blocks[block_id].kind == "Output":
            into = doc.edges_into(block_id)
            return into[0].src if into else None
        if doc.blocks[block_id].kind == "Input":       # the data itself: no block computes it
            return None
        return block_id

    def follow(self, block_id) -> None:
        """Show the activations of `block_id` (the canvas selection) in the feature-maps panel."""
        self.followed = block_id
        target = self._tap_target(block_id)
        self._update_taps()
        doc = self.trained_doc if self.run.active and self.trained_doc is not None else self.session.document
        if block_id is not None and target is None:
            note = (f"{block_id} is not part of the graph being trained." if block_id not in doc.blocks
                    else f"{block_id} is the data itself: no layer computes it. Click a layer to see what it "
                         "computes for the probe sample." if doc.blocks[block_id].kind == "Input"
                    else f"{block_id} has no input wired.")
            self.maps.show_block(block_id, note=note)
            return
        kind = doc.blocks[target].kind if target else ""
        label = kind if target == block_id else f"{kind} (what the Output receives)"
        self.maps.show_block(target, label, self.live.maps.get(target), self.run.active)

    # -- closing ----------------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = SHUTDOWN_MS) -> bool:
        """Stop a run and the data loader and wait for their threads (the window is closing)."""
        self.frame.stop()
        self.load_timer.stop()
        ok = self.run.shutdown(timeout_ms)
        self.loader.shutdown(timeout_ms)
        self._unlock_all()
        return ok
