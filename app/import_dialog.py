"""File ▸ Import Model…: a torchvision model, a model.py file, an ONNX file or a .pt2 file as a new graph.

The person picks where the network comes from and one sample's input shape; the import runs off the
GUI thread (it may trace a large network or run the person's own code), writes the graph with its
weights beside it (`NAME.loom.json` + `NAME.safetensors`, as `layerloom import` does) and then shows
the import report: what each source node became, which blocks are Opaque and why, and how closely
the imported graph reproduces the source's output. A failure is one line in the dialog.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from layerloom.graph.importers import ImportFailure, import_source, parse_args_json, parse_input_shape, save_import
from layerloom.graph.opaque import remember_import
from layerloom.graph.quoting import shown

from . import background, theme

SOURCES = (("torchvision", "torchvision model"), ("python", "Python file (model.py)"),
           ("onnx", "ONNX file (.onnx)"), ("pt2", "torch.export program (.pt2)"))
FILE_FILTERS = {"python": "Python files (*.py)", "onnx": "ONNX files (*.onnx)", "pt2": "torch.export programs (*.pt2)"}


def torchvision_names() -> list[str]:
    try:
        import torchvision
        return sorted(torchvision.models.list_models(module=torchvision.models))
    except Exception:      # an old or missing torchvision: the name is typed instead
        return []


def free_path(folder: Path, stem: str) -> Path:
    """`folder/stem.loom.json`, or `stem-2`, `stem-3`, … when that graph (or its weights) exists."""
    n = 1
    while True:
        name = stem if n == 1 else f"{stem}-{n}"
        path = folder / f"{name}.loom.json"
        if not path.exists() and not (folder / f"{name}.safetensors").exists():
            return path
        n += 1


def report_text(result) -> str:
    """The import report as the dialog shows it: the summary, the Opaque blocks and why, the notes, then
    what each source node became. Long lines wrap; names from the file are escaped."""
    r = result.report
    f = r.fidelity or {}
    lines = [f"{len(result.doc.blocks)} blocks from {shown(r.source, 120)} ({r.method}); {len(r.opaque)} Opaque"]
    figures = [f"{label}: {f[key]}" for key, label in (
        ("max_abs_diff", "Output difference from the source"), ("strict_load", "strict load"),
        ("tensors_equal", "every tensor equal")) if f.get(key) is not None]
    figures += [f"on a batch of {key.rsplit('_', 1)[1]}: {value}" for key, value in f.items()
                if key.startswith("max_abs_diff_batch_")]
    if figures:
        lines.append("  ·  ".join(figures))
    if r.fidelity_warning():
        lines += _wrapped(f"Warning: {r.fidelity_warning()}", "", "  ")
    if r.opaque:
        lines += ["", "Opaque blocks (run as the source's own module):"]
        for o in r.opaque:
            lines.append(f"  {o['block']}: {shown(o['target'], 120)}")
            lines += _wrapped(f"why: {o['reason']}", "      ", "           ")
    if r.notes:
        lines += ["", "Notes:"]
        for t in r.notes:
            lines += _wrapped(t, "  ", "    ")
    lines += ["", "What each source node became:"]
    nodes = [(shown(n["node"], 40), shown(n["op"], 40), n) for n in r.nodes]
    wide = [max((len(n[i]) for n in nodes), default=0) for i in (0, 1)]
    lines += [f"  {node:<{wide[0]}}  {op:<{wide[1]}}  → {n['block'] or '(folded)'}"
              + (f" ({n['kind']})" if n["kind"] else "") for node, op, n in nodes]
    return "\n".join(lines)


def _wrapped(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(shown(text, 2000), 84, initial_indent=first, subsequent_indent=rest)


class ImportDialog(QDialog):
    imported = Signal(str)        # the graph file written; the window opens it

    def __init__(self, folder: Path, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Import Model")
        self.setObjectName("import_dialog")
        self.resize(720, 560)
        self.folder = Path(folder)
        self.job: background.Job | None = None
        self.result = None
        self.written: Path | None = None
        self._out_edited = False

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.kind = QComboBox()
        for key, text in SOURCES:
            self.kind.addItem(text, key)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        form.addRow("Import from", self.kind)
        self.model_name = QComboBox()
        self.model_name.setEditable(True)
        self.model_name.addItems(torchvision_names())
        self.model_name.setCurrentText("resnet18")
        self.model_name.currentTextChanged.connect(self._suggest_out)
        form.addRow("Model", self.model_name)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("the file to import")
        self.file_edit.textChanged.connect(self._suggest_out)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_source)
        self.file_row = self._row(self.file_edit, browse)
        form.addRow("File", self.file_row)
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("Net (a torch.nn.Module class) or build (a function returning one)")
        form.addRow("Class or function", self.class_edit)
        self.args_edit = QLineEdit()
        self.args_edit.setPlaceholderText('optional, JSON: {"num_classes": 10} or [64, 3]')
        form.addRow("Arguments", self.args_edit)
        self.shape_edit = QLineEdit("3,224,224")
        self.shape_edit.setToolTip("One sample's shape, without the batch: channels, height, width for images")
        form.addRow("Input shape", self.shape_edit)
        self.out_edit = QLineEdit()
        self.out_edit.textEdited.connect(lambda _t: setattr(self, "_out_edited", True))
        save_browse = QPushButton("Browse…")
        save_browse.clicked.connect(self._browse_out)
        form.addRow("Save as", self._row(self.out_edit, save_browse))
        self.trust_note = QLabel("Importing a Python file runs it: only import code you trust.")
        self.trust_note.setStyleSheet("color: palette(placeholder-text);")
        form.addRow("", self.trust_note)
        self.form = form

        self.status = QLabel()
        self.status.setObjectName("import_status")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(8)
        self.busy.hide()
        self.report = QPlainTextEdit()
        self.report.setObjectName("import_report")
        self.report.setReadOnly(True)
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.report.setFont(theme.mono_font(9))
        self.report.setPlaceholderText("The import report appears here: what each part of the model became, "
                                       "which blocks are Opaque and why, and how closely the graph reproduces "
                                       "the model's output.")
        buttons = QDialogButtonBox()
        self.import_button = buttons.addButton("Import", QDialogButtonBox.ButtonRole.ActionRole)
        self.import_button.setObjectName("import")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addWidget(self.report, 1)
        layout.addWidget(buttons)
        self._kind_changed()

    @staticmethod
    def _row(*widgets) -> QWidget:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        for w in widgets:
            row.addWidget(w, 1 if isinstance(w, QLineEdit) else 0)
        return holder

    # -- the form ---------------------------------------------------------------------------------
    @property
    def source_kind(self) -> str:
        return self.kind.currentData()

    def _kind_changed(self) -> None:
        k = self.source_kind
        for widget, visible in ((self.model_name, k == "torchvision"), (self.file_row, k != "torchvision"),
                              (self.class_edit, k == "python"), (self.args_edit, k in ("torchvision", "python")),
                              (self.shape_edit, k in ("torchvision", "python")), (self.trust_note, k == "python")):
            widget.setVisible(visible)
            self.form.labelForField(widget).setVisible(visible) if self.form.labelForField(widget) else None
        self._suggest_out()

    def _stem(self) -> str:
        if self.source_kind == "torchvision":
            return self.model_name.currentText().strip() or "model"
        name = Path(self.file_edit.text().strip()).name
        return name.rsplit(".", 1)[0] if name else "model"

    def _suggest_out(self, *_args) -> None:
        if not self._out_edited:
            self.out_edit.setText(str(free_path(self.folder, self._stem())))

    def _browse_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import from", str(self.folder), FILE_FILTERS[self.source_kind])
        if path:
            self.file_edit.setText(path)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the imported graph as", self.out_edit.text(),
                                              "Layerloom graphs (*.loom.json)")
        if path:
            self.out_edit.setText(path if path.endswith(".loom.json") else path + ".loom.json")
            self._out_edited = True

    def request(self) -> tuple[str, tuple, object, Path]:
        """(source, input shape, constructor arguments, output file) from the form; raises ImportFailure."""
        k = self.source_kind
        if k == "torchvision":
            name = self.model_name.currentText().strip()
            if not name:
                raise ImportFailure("type the name of a torchvision model, such as resnet18")
            source = f"torchvision:{name}"
        else:
            path = self.file_edit.text().strip()
            if not path:
                raise ImportFailure("choose the file to import (Browse…)")
            if not Path(path).is_file():
                raise ImportFailure(f"{path} does not exist")
            source = path
            if k == "python":
                attr = self.class_edit.text().strip()
                if not attr.isidentifier():
                    raise ImportFailure("type the name of the class or function in the file that makes the model, "
                                        "such as Net")
                source = f"{path}:{attr}"
        shape = parse_input_shape(self.shape_edit.text()) if k in ("torchvision", "python") else (3, 224, 224)
        args = None
        text = self.args_edit.text().strip()
        if text and k in ("torchvision", "python"):
            args = parse_args_json(text)
        out = Path(self.out_edit.text().strip() or free_path(self.folder, self._stem()))
        return source, shape, args, out

    # -- importing --------------------------------------------------------------------------------
    def start(self) -> None:
        if self.job is not None:
            return
        try:
            source, shape, args, out = self.request()
        except ImportFailure as exc:
            self._fail(str(exc))
            return

        def work():
            result = import_source(source, shape, args)
            save_import(result, out)
            remember_import(source)     # its Opaque blocks may run after a restart (a failure: asked when opened)
            return result, out
        self.job = background.Job(work, "layerloom-import", expected=(ImportFailure,))
        self.job.finished.connect(self._finished)
        self.import_button.setEnabled(False)
        self.busy.show()
        self.status.setStyleSheet("")
        self.status.setText(f"Importing {source}…")
        self.report.clear()
        self.job.start()

    def _finished(self) -> None:
        job, self.job = self.job, None
        self.busy.hide()
        self.import_button.setEnabled(True)
        if job is None:
            return
        job.wait()
        found, job.result = job.result, None       # the binding keeps a reference to a started thread: only
        if job.error:                              # the dialog holds the imported model, and lets it go
            self._fail(job.error)
            return
        self.result, self.written = found
        self._out_edited = False
        self._suggest_out()        # a second import does not overwrite the first
        opaque = len(self.result.report.opaque)
        warning = self.result.report.fidelity_warning()
        self.status.setStyleSheet(f"color: {theme.current().warning.name()};" if warning else "")
        but = " But see the warning below: it may not compute what the source does." if warning else ""
        self.status.setText(f"Imported into {self.written.name}: {len(self.result.doc.blocks)} blocks, "
                            f"{opaque} Opaque. It is open in the editor.{but}")
        self.report.setPlainText(report_text(self.result))
        self.imported.emit(str(self.written))

    def _fail(self, text: str) -> None:
        self.status.setStyleSheet(f"color: {theme.current().error.name()};")
        self.status.setText(f"Cannot import: {text}")

    def done(self, code: int) -> None:
        if self.job is not None:           # closing while importing: the thread finishes on its own
            self.job.finished.disconnect(self._finished)
            self.job.finished.connect(lambda job=self.job: setattr(job, "result", None))   # nobody wants the model
            background.keep_until_finished(self.job)
            self.job = None
        super().done(code)
