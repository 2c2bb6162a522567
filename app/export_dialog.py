"""The Export dialog: choose what to export (a trained run of the open graph, or the untrained graph),
the formats and a folder; export in the background and see each verification."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QVBoxLayout)

from layerloom.graph.fileformat import save_graph
from layerloom.graph.quoting import shown
from layerloom.runtime.export import FORMATS, ExportError, export_model, file_names, places_problem
from layerloom.runtime.path_problems import in_the_way, os_error_text
from layerloom.runtime.runs import read_json

from .background import Job
from .training.controller import ACTIVE

FORMAT_TEXT = {
    "safetensors": ("Weights (.safetensors)", "safe, fast to load; with the model's metadata"),
    "state-dict": ("PyTorch state_dict (.pt)", "keys match the generated model code"),
    "onnx": ("ONNX (.onnx)", "one file, dynamic batch and steps; checked with onnxruntime"),
    "onnx-int8-dynamic": ("ONNX int8, dynamic", "Linear/LSTM/GRU graphs; accuracy and latency vs fp32 measured"),
    "onnx-int8-static": ("ONNX int8, static (QDQ)", "CNNs; calibrated on 256 training samples; measured vs fp32"),
    "pt2": ("torch.export program (.pt2)", "dynamic batch and steps; loads with torch.export.load"),
    "torchscript": ("TorchScript (.pt) — legacy", "deprecated by PyTorch: prefer pt2 or ONNX"),
    "project": ("Standalone PyTorch project", "model.py, train.py (python or torchrun), weights, data"),
}
DEFAULT_FORMATS = ("safetensors", "onnx", "pt2", "project")


class ExportDialog(QDialog):
    """Export one of `choices` (ExportChoice: a run folder, or None for the open graph `doc` untrained)."""
    exported = Signal(object)        # the folder an export has written (at least one format verified)

    def __init__(self, doc, choices, selected: int, destination: str, graph_problem: str = "", parent=None,
                 training: bool = False, choices_now=None):
        super().__init__(parent)
        self.choices_now = choices_now           # () -> the choices as they are now (after a run has ended)
        self._run_ended = False                  # the run that trained ended during an export: relabel after it
        self.setWindowTitle("Export model")
        self.setMinimumWidth(680)
        self.doc, self.choices, self.graph_problem = doc, list(choices), graph_problem
        self.training = training                 # a run of this graph trains now (it may have no checkpoint yet)
        self.job: Job | None = None          # the export running in the background
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.exported_to: Path | None = None     # the folder the last export wrote (what Open folder opens)
        self._out: Path | None = None            # the folder the running export writes
        self._names: dict = {}                   # run folder -> its graph's name (its files' names)
        layout = QVBoxLayout(self)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("<b>Export</b>"))
        self.choice = QComboBox()
        for c in self.choices:
            self.choice.addItem(c.label)
        self.choice.setCurrentIndex(selected)
        pick.addWidget(self.choice, 1)
        layout.addLayout(pick)
        self.about = QLabel()
        self.about.setTextFormat(Qt.TextFormat.PlainText)     # names from files are never markup
        self.about.setWordWrap(True)
        layout.addWidget(self.about)
        box = QGroupBox("Formats")
        grid = QGridLayout(box)
        self.checks: dict[str, QCheckBox] = {}
        for row, fmt in enumerate(FORMATS):
            label, note = FORMAT_TEXT[fmt]
            check = QCheckBox(label)
            check.setChecked(fmt in DEFAULT_FORMATS)
            check.setToolTip(note)
            hint = QLabel(note)
            hint.setStyleSheet("color: palette(mid);")
            grid.addWidget(check, row, 0)
            grid.addWidget(hint, row, 1)
            self.checks[fmt] = check
            check.toggled.connect(self._update_buttons)
        layout.addWidget(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Folder:"))
        self.folder = QLineEdit(destination)
        self.folder.textChanged.connect(self._update_buttons)
        self.choice.currentIndexChanged.connect(self._update_buttons)
        row.addWidget(self.folder, 1)
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        row.addWidget(self.browse)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("Ready")
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.results = QListWidget()
        self.results.setMinimumHeight(130)
        self.results.setWordWrap(True)
        layout.addWidget(self.results, 1)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button = self.buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start)
        self.open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.exported_to))))
        self.close_button.clicked.connect(self.reject)
        self.open_button.setEnabled(False)
        layout.addWidget(self.buttons)
        self._update_buttons()

    @property
    def chosen(self):
        return self.choices[self.choice.currentIndex()]

    @property
    def source(self):
        """What the export reads: the chosen run folder (None for the untrained graph until it starts)."""
        return self.chosen.run

    def selected_formats(self) -> list[str]:
        return [f for f, c in self.checks.items() if c.isChecked()]

    def _browse(self):
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def out_folder(self) -> Path | None:
        """The folder typed or chosen, with ~ as the home folder; None when the field is empty."""
        text = self.folder.text().strip()
        return Path(os.path.expanduser(text)) if text else None

    def problem(self) -> str:
        """Why Export cannot start: the untrained graph has errors, or the folder cannot be written."""
        if self.chosen.run is None and self.graph_problem:
            return self.graph_problem
        out = self.out_folder()
        if out is not None and str(out).startswith("~"):     # ~name/… of a user this machine does not have
            return (f"Cannot export into {shown(str(out), 80)}: this machine has no user "
                    f"{shown(out.parts[0][1:], 40)}; give the whole path of a folder, or choose one with Browse…")
        if out is not None and not out.is_absolute():      # relative to what? Layerloom never writes where it started
            return (f"Cannot export into {shown(str(out), 80)}: give the whole path of a folder (such as "
                    f"{shown(str(Path.home() / str(out)), 240)}), or choose one with Browse…")
        folder = str(out) if out is not None else ""
        blocked = in_the_way(folder) if folder else None
        if blocked:
            return f"Cannot export into {folder}: {blocked}. Choose another folder."
        taken = places_problem(Path(folder), file_names(self._graph_name(), self.selected_formats())) \
            if folder else None
        return f"Cannot export: {taken}." if taken else ""

    def _graph_name(self) -> str:
        """The name the chosen export's files take: its run's graph's, or the open graph's."""
        run = self.chosen.run
        if run is None:
            return self.doc.name
        if run not in self._names:
            try:
                self._names[run] = str(read_json(Path(run) / "graph.loom.json").get("name") or self.doc.name)
            except (OSError, ValueError, AttributeError):
                self._names[run] = self.doc.name
        return self._names[run]

    def run_state_changed(self, new, old) -> None:
        if old in ACTIVE and new not in ACTIVE:
            self.training_ended()

    def training_ended(self) -> None:
        """The run that trained the graph ended while the dialog was open: its choice no longer says it trains
        (after the export on the way, if one is: what is exporting stays what the dialog shows)."""
        if self.job is not None:
            self._run_ended = True
            return
        self._run_ended = False
        self.training = False
        if self.choices_now is None:
            return
        chosen = self.chosen.run
        self.choices = list(self.choices_now())
        self.choice.blockSignals(True)
        self.choice.clear()
        for c in self.choices:
            self.choice.addItem(c.label)
        self.choice.setCurrentIndex(next((i for i, c in enumerate(self.choices) if c.run == chosen), 0))
        self.choice.blockSignals(False)
        self._update_buttons()

    def _update_buttons(self, *_):
        busy = self.job is not None
        run = self.chosen.run
        out = self.out_folder()
        folder = str(out) if out is not None else ""
        if self.problem() and self.exported_to is not None and out is not None and out == self.exported_to:
            self.about.setText(f"Exported into {folder}. To export again, choose another folder: this one now holds "
                               "the files of that export.")
            self.about.setStyleSheet("")
        elif self.problem():
            self.about.setText(self.problem())
            self.about.setStyleSheet("color: #b91c1c;")
        elif run is None:
            later = ("A run is training it now and has no checkpoint yet (one is saved at each epoch's end): "
                     "export again after its first epoch for what it learns."
                     if self.training and not any(c.training for c in self.choices)
                     else "Train it (▶ Train) to export what it learns.")
            carries = (f"not trained in Layerloom: the export carries the weights of {shown(self.doc.weights, 80)}, "
                       "the weights file it names" if self.doc.weights
                       else "untrained: the export carries freshly initialised weights")
            self.about.setText(f"“{self.doc.name}” as it is now, {carries}. {later}")
            self.about.setStyleSheet("color: #b45309;")
        elif self.chosen.training:
            self.about.setText(f"{run.name} is still training: the export holds the weights of its newest checkpoint "
                               "(saved at each epoch's end), with the graph it trains. Export again once it has "
                               "ended for what it learns after that.")
            self.about.setStyleSheet("color: #b45309;")
        else:
            self.about.setText(f"The weights of the last checkpoint in {run.name}, with the graph that run trained.")
            self.about.setStyleSheet("")
        for widget in (self.choice, self.folder, self.browse, *self.checks.values()):
            widget.setEnabled(not busy)      # what is exporting stays what the dialog shows
        self.export_button.setEnabled(not busy and not self.problem() and bool(self.selected_formats())
                                      and bool(self.folder.text().strip()))

    def start(self):
        formats = self.selected_formats()
        out = self.out_folder()
        self.results.clear()
        self.progress.setRange(0, len(formats))
        self.progress.setValue(0)
        self.progress.setFormat("Exporting…")
        self.exported_to = None
        self.open_button.setEnabled(False)
        source = self.chosen.run
        if source is None:             # the open graph: a file in a folder removed when the export ends
            self._tmp = tempfile.TemporaryDirectory(prefix="layerloom-export-")
            source = Path(self._tmp.name) / "graph.loom.json"
            save_graph(self.doc, source)

        def export():
            src, results = export_model(source, formats, out, progress=lambda _f, i, n: job.progress.emit(i, n))
            return list(src.warnings), results
        job = self.job = Job(export, name="layerloom-export", expected=(ExportError,), describe=_failure,
                             parent=self)
        order = list(dict.fromkeys(formats))                  # as export_model goes through them
        job.progress.connect(lambda i, n: self._on_progress(order[i], i, n))
        self._out = out
        job.finished.connect(self._on_finished)
        job.start()
        self._update_buttons()
        self.close_button.setEnabled(False)

    def _on_progress(self, fmt: str, i: int, n: int):
        self.progress.setValue(i)
        self.progress.setFormat(f"Exporting {FORMAT_TEXT[fmt][0]} ({i + 1}/{n})…")

    def _on_finished(self):
        job, self.job = self.job, None
        job.wait()
        job.deleteLater()
        warnings, results = job.result if not job.error else (None, job.error)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.close_button.setEnabled(True)
        if self._run_ended:
            self.training_ended()
        self._update_buttons()
        if warnings is None:
            self.progress.setFormat("Export failed")
            self._add(f"✗ {results}", ok=False)
            return
        for w in warnings:
            self._add(f"⚠ {w}", ok=None)
        ok = 0
        for r in results:
            flagged = bool(getattr(r, "report", None) and r.report.get("flagged"))   # int8 lost > 1 point
            mark = "⚠ " if flagged else "✓ " if r.verified else "✗ "
            self._add(mark + r.line(), ok=None if flagged else r.verified)
            ok += r.verified
        self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(f"{ok} of {len(results)} formats exported and verified")
        self.exported_to = self._out if ok else None
        self.open_button.setEnabled(ok > 0)
        self._update_buttons()
        if ok:
            self.exported.emit(self._out)

    def _add(self, text: str, ok):
        item = QListWidgetItem(text)
        color = {True: "#15803d", False: "#b91c1c", None: "#b45309"}[ok]
        item.setForeground(QColor(color))
        self.results.addItem(item)

    def done(self, result: int):
        if self.job is not None:             # an export is running: let it finish first
            return
        super().done(result)


def _failure(exc: Exception) -> str:
    """An export that failed on the way: a path the system refused in words, anything else as it is."""
    return os_error_text(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
