"""The Experiment panel: edit the graph's sweep, start / pause / stop it, compare its trials.

The sweep runs through layerloom.runtime.sweeps (each trial its own `layerloom train` process) in
a background thread; the panel follows it through the runner's events and reads its study's trials into
its trial table (trial_table.py: sortable, filterable, beside parallel coordinates). "Apply best to
graph" writes the best trial's values into the graph as one undoable edit.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from layerloom.graph.quoting import shown
from layerloom.runtime.path_problems import os_error_text
from layerloom.runtime.sweeps.results import best_changes, best_row, trial_rows
from layerloom.runtime.sweeps.spec import MAX_WORKERS, SweepError, free_name, preferred_name, sweep_name
from layerloom.runtime.threads import available_cores

from .. import background, places
from .trial_table import TrialTable, trial_label

# the panel's fields, as a message about a setting names them
FIELD_LABELS = {"name": "Name", "strategy": "Strategy", "trials": "Trials", "workers": "Workers", "epochs": "Epochs",
                "objective": "Objective"}


class _Relay(QObject):
    event = Signal(dict)      # emitted from the sweep's thread; Qt queues it to the GUI thread


class ExperimentPanel(QWidget):
    apply_best = Signal(list)     # the changes of best_changes()
    runs_selected = Signal(list, dict)  # the selected trials' run folders and their labels: the Runs tab overlays them

    def __init__(self, session=None, parent=None):
        super().__init__(parent)
        self.session = session
        self.runner = None
        self.thread = None
        self.spec = None
        self.swept = None                        # the graph the table's sweep ran on
        self._swept_open = None                  # (document, file) open when the sweep started: see _elsewhere
        self.folder: Path | None = None
        self.sweeps_base: Path | None = None     # where sweep folders go; None: beside the graph file
        self.rows: list[dict] = []
        self._name_chosen = False                # typed by the person, or a stopped sweep's: Start uses it as it is
        self.relay = _Relay()
        self.relay.event.connect(self._on_event)
        self.earlier = background.Latest("layerloom-sweep-results", expected=(SweepError, OSError, ValueError),
                                         parent=self, torch_work=False)
        self.earlier.done.connect(self._earlier_read)

        self.params = QPlainTextEdit()
        self.params.setPlaceholderText("one PATH=SPEC a line, e.g.\ntraining.lr=log:1e-4:1e-1\n"
                                       "blocks.fc1.params.out_features=choice:32,64,128")
        self.params.setMaximumHeight(80)
        self.strategy = QComboBox()
        self.strategy.addItems(["tpe", "random", "grid"])
        self.trials, self.workers, self.epochs = QSpinBox(), QSpinBox(), QSpinBox()
        self.trials.setRange(0, 100_000)
        self.trials.setSpecialValueText("auto")
        self.workers.setRange(1, MAX_WORKERS)
        cores = available_cores()
        self.workers.setToolTip(f"Trials run at once. This machine has {cores} core{'s' if cores != 1 else ''}: "
                                "more trials than that take turns on them, so the sweep is no faster.")
        self.epochs.setRange(0, 10_000)
        self.epochs.setSpecialValueText("graph's")
        self.objective = QComboBox()
        self.objective.addItems(["val_accuracy", "val_loss"])
        self.name = QLineEdit()
        self.name.setToolTip("The sweep's name: its folder and its Optuna study. A new name starts a new sweep beside "
                             "the old ones; an existing sweep's name resumes it (with the same settings).")
        self.name.textEdited.connect(self._name_edited)
        self.name.textChanged.connect(self._show_name_note)
        self.name_note = QLabel("")
        self.name_note.setTextFormat(Qt.TextFormat.PlainText)      # a folder's name is never markup
        self.name_note.setWordWrap(True)
        self.name.setMinimumWidth(220)
        self.name_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        name_row = QVBoxLayout()                 # the note under the name: a folder's path wraps in two lines, not four
        name_row.addWidget(self.name)
        name_row.addWidget(self.name_note)
        form = QFormLayout()
        form.addRow(FIELD_LABELS["name"], name_row)
        form.addRow("Parameters", self.params)
        self.epochs.setMinimumWidth(self.epochs.sizeHint().width())     # "graph's" whole, never cut
        row = QGridLayout()              # two rows of settings: the panel fits the bottom of a 1024-pixel window
        fields = ((FIELD_LABELS["strategy"], self.strategy), (FIELD_LABELS["trials"], self.trials),
                  (FIELD_LABELS["workers"], self.workers), (FIELD_LABELS["epochs"], self.epochs),
                  (FIELD_LABELS["objective"], self.objective))
        for i, (label, w) in enumerate(fields):
            row.addWidget(QLabel(label), i // 3, 2 * (i % 3))
            row.addWidget(w, i // 3, 2 * (i % 3) + 1)
        row.setColumnStretch(6, 1)
        form.addRow(row)

        self.start_button, self.pause_button = QPushButton("▶ Start"), QPushButton("Pause")
        self.stop_button, self.apply_button = QPushButton("■ Stop"), QPushButton("Apply best to graph")
        self._stopping = False
        self._fresh = False                      # the running sweep's folder was made by its Start
        self._checking = False                   # started, its data set not yet checked: not running trials yet
        self.pause_button.setCheckable(True)
        self.start_button.clicked.connect(self.start)
        self.pause_button.toggled.connect(self._pause)
        self.stop_button.clicked.connect(self.stop)
        self.apply_button.clicked.connect(self._apply_best)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter trials…")
        self.filter.setMinimumWidth(self.filter.fontMetrics().horizontalAdvance("Filter trials…") + 24)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button, self.apply_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.filter)
        self.message = QLabel("")
        self.message.setWordWrap(True)

        self.table = TrialTable()
        self.model, self.proxy, self.view, self.plot = (self.table.model, self.table.proxy, self.table.view,
                                                        self.table.plot)
        self.filter.textChanged.connect(self.table.filter_text)
        self.view.selectionModel().selectionChanged.connect(self._trials_selected)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        if session is not None:
            session.document_replaced.connect(lambda _doc: self._graph_changed(reset=True))
            session.meta_changed.connect(self._graph_changed)
        self.suggest_name()
        self._update_buttons()

    # -- the sweep's name --------------------------------------------------------------------------
    def _base(self) -> Path:
        return self.sweeps_base if self.sweeps_base is not None else self._sweeps_base()

    def _document(self):
        return self.session.document if self.session is not None else None

    def suggest_name(self, reset: bool = False, doc=None) -> None:
        """Fill the name with one no sweep has taken yet, unless the person chose one (`reset`: forget that)."""
        if reset:
            self._name_chosen = False
        doc = doc or self._document()
        if self._name_chosen or self.running or doc is None:
            return
        self.name.setText(free_name(doc, self._base()))

    def _graph_changed(self, reset: bool = False) -> None:
        """Another graph, or the graph saved elsewhere: another name, or the same one in another folder."""
        self.suggest_name(reset=reset)
        self._show_name_note(self.name.text())

    def _elsewhere(self) -> str:
        """The quoted name of the graph the sweep ran on when another graph is open now (File ▸ New or Open
        since it started), else ""."""
        if self._swept_open is None or self.swept is None:
            return ""
        doc, path = self._swept_open
        if self._document() is doc or (path is not None and getattr(self.session, "path", None) == path):
            return ""
        return f"“{shown(self.swept.name, 60)}”"

    def _name_edited(self, text: str) -> None:
        self._name_chosen = bool(text.strip())

    def _show_name_note(self, text: str) -> None:
        if not text.strip():
            self.name_note.setText("empty: Start names the sweep after the graph")
            return
        try:
            name = sweep_name(text.strip())
        except SweepError:
            self.name_note.setStyleSheet("color: #c0392b")
            self.name_note.setText("use letters or digits, at most 80 characters")
            return
        self.name_note.setStyleSheet("")
        if self.running and self.folder is not None and name == self.folder.name:    # where it writes, whatever is
            where, other = shown(str(self.folder), 90), self._elsewhere()            # open now
            self.name_note.setText(f"running on {other} (not the graph open now); its trials go in {where}" if other
                                   else f"running; its trials go in {where}")
            self.name_note.setToolTip(str(self.folder))
            return
        folder = self._base() / name
        where = shown(str(folder), 90)
        if folder.exists():
            note = f"resumes the sweep in {where} (same settings needed)"
            if not self.running and folder != self.folder:      # its trials so far, unless the table has them
                self.earlier.submit(folder, lambda job, folder=folder: _read_sweep(folder))
        else:
            note = f"a new sweep in {where}"
            doc = self._document()
            earlier = preferred_name(doc) if doc is not None else None
            if earlier and earlier != name and (self._base() / earlier).exists():
                note += f" ({earlier} exists: type its name to resume it)"
        self.name_note.setText(note)
        self.name_note.setToolTip(str(folder))

    def _earlier_read(self, job) -> None:
        """An earlier sweep's results, read in the background: shown while its name is the one typed."""
        if self.running or job.cancelled or job.result is None or job.key != self._base() / self.name.text().strip():
            return
        spec, rows, self.swept = job.result
        self.folder, self._swept_open = job.key, None
        self._name_chosen = True          # the fields take its settings: Start resumes it as it was
        self.load_section(spec.to_section())
        self.show_results(rows, spec)
        done = sum(r.get("state") == "complete" for r in rows)
        self.message.setText(f"Sweep {spec.name}: {len(rows)} trial{'s' if len(rows) != 1 else ''} so far, {done} "
                             "complete. Start resumes it; Apply best works on these.")

    # -- the sweep section -------------------------------------------------------------------------
    def load_section(self, section: dict) -> None:
        self.params.setPlainText("\n".join(f"{p}={s}" for p, s in (section.get("params") or {}).items()))
        self.strategy.setCurrentText(section.get("strategy", "tpe"))
        self.trials.setValue(int(section.get("trials", 0) or 0))
        self.workers.setValue(int(section.get("workers", 1) or 1))
        self.epochs.setValue(int(section.get("epochs", 0) or 0))
        self.objective.setCurrentText(section.get("objective", "val_accuracy"))
        self.suggest_name()

    def section(self, base: dict | None = None) -> dict:
        from layerloom.runtime.sweeps.spec import parse_param_flags
        out = dict(base or {})
        if self.name.text().strip():
            out["name"] = self.name.text().strip()
        out["params"] = parse_param_flags([ln for ln in self.params.toPlainText().splitlines() if ln.strip()],
                                          flag=None)
        out.update({"strategy": self.strategy.currentText(), "trials": self.trials.value(),
                    "workers": self.workers.value(), "objective": self.objective.currentText()})
        if self.epochs.value():
            out["epochs"] = self.epochs.value()
        else:
            out.pop("epochs", None)
        return out

    def add_parameter(self, path: str, spec: str) -> None:
        """"Sweep this parameter": add (or replace) one line."""
        lines = [ln for ln in self.params.toPlainText().splitlines() if ln.strip() and ln.split("=")[0] != path]
        self.params.setPlainText("\n".join([*lines, f"{path}={spec}"]))

    # -- running -----------------------------------------------------------------------------------
    def start(self, doc=None, folder_base=None) -> bool:
        from layerloom.runtime.sweeps.coordinator import SweepRunner
        from layerloom.runtime.sweeps.spec import SweepError, parse_section
        from layerloom.runtime.sweeps.study import create_study, open_storage
        from layerloom.runtime.sweeps.trial import check_graph
        if self.running:
            return False
        self.earlier.drop_queued()        # what Start says next is the news, not an earlier sweep's table
        self.earlier.cancel_running()
        doc = doc or self._document()
        if doc is None:
            return False
        if folder_base:
            self.sweeps_base = Path(folder_base)
        self.suggest_name(doc=doc)        # a name no sweep has taken, unless the person chose one
        try:
            spec = parse_section(doc, self.section(doc.sweep), labels=FIELD_LABELS)
            check_graph(doc, spec.params)
            folder = self._base() / spec.name
            self._fresh = not folder.exists()     # a refused sweep takes away the folder Start made, nothing else
            study = create_study(doc, spec, open_storage(None, folder), rename="type another name in Name")
        except SweepError as exc:
            self.message.setText(str(exc))
            return False
        except OSError as exc:            # the sweeps folder cannot be made: a read-only folder, a file in the way
            self.message.setText(f"The sweep was not started: {os_error_text(exc)}. Sweeps go in a sweeps folder "
                                 "beside the graph: save the graph where you can write.")
            return False
        self.spec, self.folder, self.swept = spec, folder, doc.copy()
        self._swept_open = (doc, getattr(self.session, "path", None))
        self.name.setText(spec.name)      # as its folder is named
        self.runner = SweepRunner(study, doc.copy(), spec, folder, callback=self.relay.event.emit)
        self._checking = True             # until its `sweep_started`: a refused sweep never looks like a running one
        self.thread = threading.Thread(target=self._run, args=(self.runner,), name="sweep", daemon=True)
        self.thread.start()
        self.message.setText(f"Sweep {spec.name}: checking its data set before the first trial…")
        self._show_name_note(self.name.text())
        self._update_buttons()
        return True

    def _started(self) -> None:
        """The data set loads: the sweep runs its trials from now on."""
        from layerloom.runtime.sweeps.coordinator import workers_warning
        self._checking = False
        if self._stopping:                # stopped while its data set was checked: it ends before any trial
            self._update_buttons()
            return
        warning = workers_warning(min(self.spec.workers, self.spec.budget()), FIELD_LABELS["workers"])
        self.message.setText(f"Sweep {self.spec.name}: {self.spec.describe()} — {self.folder}"
                             + (f". Note: {warning}." if warning else ""))
        self._update_buttons()

    def _run(self, runner) -> None:
        """The sweep's thread: an error that ends it (a full disk) is said in the panel, not lost with the thread."""
        try:
            runner.run()
        except Exception as exc:
            from layerloom.runtime.sweeps.spec import SweepError
            text = os_error_text(exc) if isinstance(exc, OSError) else str(exc) if isinstance(exc, SweepError) \
                else f"{type(exc).__name__}: {exc}"
            self.relay.event.emit({"type": "sweep_failed", "message": text})

    def _sweeps_base(self) -> Path:
        path = getattr(self.session, "path", None) if self.session is not None else None
        return places.work_folder(path, "sweeps")

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _pause(self, paused: bool) -> None:
        if self.runner is None:
            return
        (self.runner.pause if paused else self.runner.resume)()
        self.pause_button.setText("Resume" if paused else "Pause")

    def stop(self) -> None:
        """Stop: each running trial stops cleanly and keeps a checkpoint. Pressed again while they still run
        (a trial stuck in a read, a long validation): Abort, they are ended at once and run again on resume."""
        if self.runner is None or not self.running:
            return
        if self._stopping:
            self.runner.abort()
            self.message.setText("Aborting: the running trials are ended now; their values run again when the "
                                 "sweep resumes…")
            return
        self._stopping = True
        self.runner.stop()
        if self._checking:
            self.stop_button.setEnabled(False)
            self.message.setText("Stopping: the sweep ends as soon as its data set is checked, before any trial…")
            return
        self.stop_button.setText("■ Abort now")
        self.stop_button.setToolTip("End the running trials at once instead of waiting for them to stop cleanly")
        self.message.setText("Stopping: each running trial stops cleanly and keeps a checkpoint (Abort now ends "
                             "them at once)…")

    def wait(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def shutdown(self) -> None:
        self.earlier.shutdown(5000)
        self.stop()
        self.wait(60)
        if self.running:         # a trial that does not stop: end it rather than leave it behind the window
            self.stop()
            self.wait(30)

    def _on_event(self, event: dict) -> None:
        if event["type"] in ("trial_started", "trial_finished", "trial_failed", "trial_pruned", "started",
                             "sweep_finished", "recovered"):
            rows = event.get("results")
            if rows is None and self.runner is not None:
                rows = trial_rows(self.runner.study)      # what the runner has just written to results.json
            if rows is not None:
                self.show_results(rows, self.spec)
        if event["type"] == "sweep_started":
            self._started()
        if event["type"] == "sweep_refused":       # its data set cannot be read: no trial ran
            if self._fresh and self.folder is not None:
                _remove_new_sweep(self.folder)
            self.message.setText(event["message"][:1].upper() + event["message"][1:])
            self._ended(resumable=not self._fresh)
        if event["type"] == "sweep_failed":
            self.message.setText(f"The sweep ended early: {event['message']}. Its finished trials are kept; Start "
                                 "resumes it.")
            self._ended(resumable=True)
        if event["type"] == "sweep_finished":
            best = best_row(self.rows, self.spec.direction) if self.spec else None
            done = (f"best: trial {best['number']}, final {self.spec.objective} {best['value']:.4f}" if best
                    else "no trial completed")
            other = self._elsewhere()
            on = f" on {other} (not the graph open now)" if other else ""
            self.message.setText(f"Sweep {'stopped' if event.get('stopped') else 'finished'}{on}: {done}.")
            self._ended(resumable=bool(event.get("stopped")))

    def _ended(self, resumable: bool) -> None:
        """The sweep's thread is done: the buttons as before it; a sweep that can go on keeps its name, so
        that Start resumes it; after a finished one, Start begins a new sweep."""
        self._stopping = self._checking = False
        self.stop_button.setText("■ Stop")
        self.stop_button.setToolTip("")
        self._name_chosen = resumable
        self.pause_button.setChecked(False)
        if self.thread is not None:      # its last act was to send this event: let it return, so that
            self.thread.join(5.0)        # Start is offered again (it stayed greyed out otherwise)
        self.suggest_name()
        self._show_name_note(self.name.text())
        self._update_buttons()

    # -- results -----------------------------------------------------------------------------------
    def selected_trials(self) -> list[dict]:
        numbers = self.table.selected_numbers()
        by_number = {r["number"]: r for r in self.rows}
        return [by_number[n] for n in numbers if n in by_number]

    def _trials_selected(self, *_args) -> None:
        trials = [r for r in self.selected_trials() if r.get("run")]
        if trials:
            self.runs_selected.emit([Path(r["run"]) for r in trials], {r["run"]: trial_label(r) for r in trials})

    def show_results(self, rows: list[dict], spec) -> None:
        self.rows, self.spec = rows, spec
        self.table.show_rows(rows, spec)
        self._update_buttons()

    def _apply_best(self) -> None:
        best = best_row(self.rows, self.spec.direction) if self.spec else None
        if best is None or self.session is None:
            return
        try:
            changes = best_changes(self.session.document, best, self.swept)
        except SweepError as exc:
            self.message.setText(f"Not applied: {exc}")
            return
        if not changes:
            self.message.setText(f"The graph already has trial {best['number']}'s values.")
            return
        apply_changes(self.session, changes, f"Apply sweep trial {best['number']}")
        self.message.setText(f"Applied trial {best['number']}: " +
                             ", ".join(f"{c['path']} = {c['new']}" for c in changes))
        self.apply_best.emit(changes)

    def _update_buttons(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running and not self._checking)
        self.stop_button.setEnabled(running and not (self._checking and self._stopping))
        best = best_row(self.rows, self.spec.direction) if self.spec else None
        self.apply_button.setEnabled(not running and best is not None)


def _read_sweep(folder: Path):
    """In a job's thread: the sweep in `folder` (its settings) and its trials' rows, both from its study's journal
    (results.json is a copy for people and scripts: edited or damaged, it changes nothing here)."""
    from layerloom.runtime.sweeps.results import trial_rows
    from layerloom.runtime.sweeps.study import JOURNAL, load_study, open_storage
    if not (folder / JOURNAL).is_file():
        return None
    study, doc, spec = load_study(open_storage(None, folder), folder.name)
    return spec, trial_rows(study), doc


def _remove_new_sweep(folder: Path) -> None:
    """Take away a sweep folder that Start made for a sweep refused before its first trial: it holds only the
    study's journal. Anything else in it stays (it is not Start's to remove)."""
    from layerloom.runtime.sweeps.study import JOURNAL
    try:
        entries = list(folder.iterdir())
        if all(e.is_file() and e.name.startswith(JOURNAL) for e in entries):
            for e in entries:
                e.unlink()
            folder.rmdir()
    except OSError:
        pass


def apply_changes(session, changes: list[dict], text: str) -> None:
    """best_changes() as one undoable edit: block parameters, then the training section at once."""
    training = {c["name"]: c["new"] for c in changes if c["kind"] == "training"}

    def build(r):
        for c in changes:
            if c["kind"] == "param":
                r.set_param(c["block"], c["name"], c["new"])
        if training:
            r.set_meta("training", {**session.document.training, **training})
    session.edit(text, build)
