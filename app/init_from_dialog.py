"""Edit ▸ Initialise Weights From…: the weights training starts from (transfer learning).

The source is a trained run (its latest checkpoint), a weights file (`.safetensors` such as an imported
model's, or a `.pt`/`.pth` state_dict) or torchvision's published weights. "Check" reads it off the GUI
thread and matches it onto the open graph by layerloom.graph.weights' one rule (block id, else module
path, and always the shape), listing what would be loaded, skipped and left new. "Use" writes the
source into the graph's training settings (`init_from`, one undoable step): every run then starts from
it, and reports again what it loaded.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from layerloom.graph.analysis import analyze
from layerloom.graph.compiler import compile_graph
from layerloom.graph.weights import WeightsError, match_weights
from layerloom.runtime.initial_weights import TORCHVISION_PREFIX, read_init_source, with_long_ids
from layerloom.runtime.runs import list_runs

from . import background, edits, theme
from .exporting import has_checkpoint, run_label

WEIGHT_FILES = "Weights (*.safetensors *.pt *.pth);;All files (*)"


def match_report(doc, spec: str, data: dict | None = None) -> tuple[str, bool]:
    """What `spec` would give the graph `doc` trained on the data set whose facts are `data` (the data
    context its "auto" parameters follow, as in a run): (the report as text, whether anything fits)."""
    target = compile_graph(doc, analyze(doc, data)).state_dict()
    source = read_init_source(spec)
    _, report = match_weights(target, with_long_ids(source, target), spec)   # as a run matches them
    lines = [report.summary(), ""]
    if report.loaded:
        lines += ["Loaded into:", "  " + ", ".join(report.blocks(report.loaded))]
    if report.new:
        lines += ["Left as freshly initialised:", "  " + ", ".join(report.blocks(report.new))]
    if report.skipped:
        lines += ["Skipped:"] + [f"  {key}: {why}" for key, why in report.skipped[:40]]
        if len(report.skipped) > 40:
            lines.append(f"  … and {len(report.skipped) - 40} more")
    return "\n".join(lines), bool(report.loaded)


class InitFromDialog(QDialog):
    def __init__(self, session, runs_base, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Initialise Weights From")
        self.setObjectName("init_from_dialog")
        self.resize(640, 460)
        self.session = session
        self.job: background.Job | None = None
        self.checked: str | None = None          # the spec the report below is about, when it fits

        self.kind = QComboBox()
        self.kind.addItem("A trained run", "run")
        self.kind.addItem("A weights file (.safetensors, .pt, .pth)", "file")
        self.kind.addItem("torchvision's published weights", "torchvision")
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.runs = QComboBox()
        for run in list_runs(Path(runs_base)):
            if has_checkpoint(run.path):
                self.runs.addItem(run_label(run), str(run.path))
        if not self.runs.count():
            self.runs.addItem("No trained runs yet", "")
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("an imported model's .safetensors, or a state_dict .pt file")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.file_row = QWidget()
        row = QHBoxLayout(self.file_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.file_edit, 1)
        row.addWidget(browse)
        self.tv_name = QLineEdit("resnet18")
        self.tv_name.setToolTip("Downloaded once into the user data folder when online; offline, the check says "
                                "where to put the file")
        self.form = QFormLayout()
        self.form.addRow("Start from", self.kind)
        self.form.addRow("Run", self.runs)
        self.form.addRow("File", self.file_row)
        self.form.addRow("Model", self.tv_name)
        current = session.document.training.get("init_from", "")
        self.current = QLabel(f"Now: training starts from {current}" if current else
                              "Now: training starts from the graph's own weights, or fresh ones")
        self.current.setTextFormat(Qt.TextFormat.PlainText)
        self.current.setStyleSheet("color: palette(placeholder-text);")
        self.status = QLabel()
        self.status.setObjectName("init_from_status")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setFont(theme.mono_font(9))
        self.report.setPlaceholderText("Check lists which blocks would get these weights, which stay new, "
                                       "and what does not fit.")
        buttons = QDialogButtonBox()
        self.check_button = buttons.addButton("Check", QDialogButtonBox.ButtonRole.ActionRole)
        self.check_button.clicked.connect(self.check)
        self.use_button = buttons.addButton("Use These Weights", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setObjectName("use")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use)
        self.clear_button = buttons.addButton("Start Fresh", QDialogButtonBox.ButtonRole.ResetRole)
        self.clear_button.setToolTip("Forget the weights training starts from")
        self.clear_button.setEnabled(bool(current))
        self.clear_button.clicked.connect(self.clear)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.current)
        layout.addWidget(self.status)
        layout.addWidget(self.report, 1)
        layout.addWidget(buttons)
        for edit in (self.file_edit, self.tv_name):
            edit.textChanged.connect(self._forget)
        self.runs.currentIndexChanged.connect(self._forget)
        self._kind_changed()

    def _kind_changed(self) -> None:
        k = self.kind.currentData()
        for widget, shown in ((self.runs, k == "run"), (self.file_row, k == "file"), (self.tv_name, k == "torchvision")):
            widget.setVisible(shown)
            self.form.labelForField(widget).setVisible(shown)
        self._forget()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Initialise from", "", WEIGHT_FILES)
        if path:
            self.file_edit.setText(path)

    def _forget(self, *_args) -> None:
        self.checked = None
        self.use_button.setEnabled(False)

    def spec(self) -> str:
        """The `init_from` text the form names; raises WeightsError when it names nothing."""
        k = self.kind.currentData()
        if k == "run":
            if not self.runs.currentData():
                raise WeightsError("there is no trained run to start from: train first, or choose a weights file")
            return self.runs.currentData()
        if k == "file":
            text = self.file_edit.text().strip()
            if not text:
                raise WeightsError("choose a weights file (Browse…)")
            return text
        name = self.tv_name.text().strip()
        if not name:
            raise WeightsError("type the name of a torchvision model, such as resnet18")
        return TORCHVISION_PREFIX + name

    # -- checking and using -----------------------------------------------------------------------
    def check(self) -> None:
        if self.job is not None:
            return
        try:
            spec = self.spec()
        except WeightsError as exc:
            self._say(str(exc), error=True)
            return
        doc, data = self.session.document.copy(), dict(self.session.data or {}) or None
        self.job = background.Job(lambda: match_report(doc, spec, data), "layerloom-init-from",
                                  expected=(WeightsError,))
        self.job.spec = spec
        self.job.finished.connect(self._checked)
        self.check_button.setEnabled(False)
        self._say(f"Reading {spec}…")
        self.job.start()

    def _checked(self) -> None:
        job, self.job = self.job, None
        self.check_button.setEnabled(True)
        if job is None:
            return
        job.wait()
        if job.error:
            self.report.clear()
            self._say(job.error, error=True)
            return
        text, fits = job.result
        self.report.setPlainText(text)
        if not fits:
            self._say("Nothing in it fits this graph (no block id, module path and shape agree).", error=True)
            return
        self.checked = job.spec
        self.use_button.setEnabled(True)
        self._say("These weights fit. Use them to start every training run from them.")

    def use(self) -> None:
        if self.checked is None:
            return
        section = dict(self.session.document.training)
        section["init_from"] = self.checked
        if edits.set_meta(self.session, "training", section):
            self.session.message.emit(f"Training now starts from {self.checked}.")
            self.accept()

    def clear(self) -> None:
        section = dict(self.session.document.training)
        section.pop("init_from", None)
        if edits.set_meta(self.session, "training", section):
            self.session.message.emit("Training now starts from the graph's own weights, or fresh ones.")
            self.accept()

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(f"color: {theme.current().error.name()};" if error else "")
        self.status.setText(text)

    def done(self, code: int) -> None:
        if self.job is not None:
            self.job.finished.disconnect(self._checked)
            background.keep_until_finished(self.job)
            self.job = None
        super().done(code)
