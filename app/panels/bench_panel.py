"""The Benchmark tab: which run, which formats, and the latency report as a table.

It only asks and shows; app/benchmarking.py runs runtime/latency.py's `benchmark` (the measurement of
`layerloom bench`) off the GUI thread and hands the report to `show_report`, which names the graph and the
run folder measured beside the Measure button (another run may be chosen in the box meanwhile).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QHeaderView,
                               QLabel, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from layerloom.graph.quoting import shown
from layerloom.runtime.latency import percent_text, size_text

from .. import theme
from ..status_room import ElidedLabel

FORMATS = (("torch", "torch eager (fp32)"), ("pt2", ".pt2 program"), ("onnx", "ONNX fp32"),
           ("onnx-int8-dynamic", "ONNX int8 dynamic"), ("onnx-int8-static", "ONNX int8 static"))
FORMAT_COLUMNS = 3        # the format boxes in a grid: the panel fits the bottom of a 1024-pixel window
COLUMNS = ("Format", "Size", "Batch 1 median", "p90", "Batch 32 median", "p90", "Samples/s @32",
           "Accuracy", "Agreement", "Max |Δ|")
READY = "Choose a trained run and press Measure. The same measurement as `layerloom bench`."


def _ms(x: float) -> str:
    return f"{x:.2f} ms"


class BenchPanel(QWidget):
    start_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("bench-panel")
        self.run = QComboBox()
        self.run.setObjectName("bench-run")
        self.run.setMinimumWidth(200)
        self.run.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run.setMinimumContentsLength(20)        # a long run name is cut in the box, not the window widened
        self.formats: dict[str, QCheckBox] = {}
        boxes = QGridLayout()
        boxes.addWidget(QLabel("Formats:"), 0, 0)
        for i, (key, label) in enumerate(FORMATS):
            box = QCheckBox(label)
            box.setChecked(True)
            box.setObjectName(f"bench-format:{key}")
            self.formats[key] = box
            boxes.addWidget(box, i // FORMAT_COLUMNS, 1 + i % FORMAT_COLUMNS)
        boxes.setColumnStretch(FORMAT_COLUMNS + 1, 1)
        self.threads = QSpinBox()
        self.threads.setRange(0, 64)
        self.threads.setSpecialValueText("automatic")
        self.start = QPushButton("Measure")
        self.start.setObjectName("bench-start")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("bench-cancel")
        self.cancel.setEnabled(False)
        self.start.clicked.connect(self.start_requested)
        self.cancel.clicked.connect(self.cancel_requested)
        top = QHBoxLayout()                 # the run on its own row, what to do with it on the next
        top.addWidget(QLabel("Run:"))
        top.addWidget(self.run, 1)
        actions = QHBoxLayout()
        actions.addWidget(QLabel("CPU threads:"))
        actions.addWidget(self.threads)
        actions.addWidget(self.start)
        actions.addWidget(self.cancel)
        actions.addSpacing(12)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("bench-table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for col, tip in ((7, "Top-1 accuracy on the run's whole validation split"),
                         (8, "Share of samples whose top-1 class is the same as torch eager's"),
                         (9, "Largest absolute difference from torch eager's outputs")):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.measured = ElidedLabel()      # whose report the table holds: the graph and its run folder; empty
        self.measured.setObjectName("bench-measured")     # without one
        actions.addWidget(self.measured, 1)       # beside the buttons: the short dock keeps its table rows
        self.status = QLabel(READY)
        self.status.setObjectName("bench-status")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(boxes)
        layout.addLayout(actions)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

    # -- what was chosen ------------------------------------------------------------------------------
    def set_runs(self, choices: list[tuple[str, str]]) -> None:
        current = self.run.currentData()
        self.run.clear()
        for label, path in choices:
            self.run.addItem(label, path)
        if current is not None and self.run.findData(current) >= 0:
            self.run.setCurrentIndex(self.run.findData(current))
        if not choices:
            self.run.addItem("No trained run of this graph yet: train it first", None)

    def chosen_formats(self) -> set[str]:
        return {key for key, box in self.formats.items() if box.isChecked()}

    def set_busy(self, busy: bool) -> None:
        self.start.setEnabled(not busy)
        self.cancel.setEnabled(busy)
        for w in (self.run, self.threads, *self.formats.values()):
            w.setEnabled(not busy)

    def say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #c0392b;" if error else "")
        self.status.setText(text)

    # -- the report -----------------------------------------------------------------------------------------
    def clear_report(self, text: str = READY) -> None:
        """No report on show (another graph is open): an empty table, and `text` under it."""
        self.table.setRowCount(0)
        self.measured.setText("")
        self.say(text)

    def show_report(self, report: dict, run_folder: str = "", warning: str = "") -> None:
        """The report as a table, under the name of the graph and the run folder it measured; `warning`
        (timings to distrust) leads the notes under it."""
        graph = shown(str(report.get("model") or "the graph"), 80)
        full = f"Measured: {graph} · run folder {shown(run_folder, 80)}" if run_folder else f"Measured: {graph}"
        self.measured.set_texts(full, f"Measured: {graph}")
        self.measured.setToolTip(shown(str(report.get("source", "")), 300))
        rows = report["backends"]
        batches = [str(b) for b in report["batches"]]
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            lat = row["latency"]
            first, last = lat[batches[0]], lat[batches[-1]]
            cells = [row["backend"], size_text(row.get("size_bytes")), _ms(first["median_ms"]), _ms(first["p90_ms"]),
                     _ms(last["median_ms"]), _ms(last["p90_ms"]), f"{last['samples_per_s']:,.0f}",
                     percent_text(row.get("accuracy")), percent_text(row.get("top1_agreement")),
                     f"{row.get('max_abs_diff', float('nan')):.1e}"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                align = Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight
                item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        notes = [f"{report['threads']} CPU thread(s); inputs: {report['samples']} samples; latency at batch "
                 f"{' and '.join(batches)}."]
        notes += [f"{s['backend']}: skipped ({s['why']})" for s in report["skipped"]]
        cuda = report.get("cuda") or {}
        notes.append(f"CUDA: {cuda['device']}" if cuda.get("available") else f"CUDA: {cuda.get('note', '')}")
        if warning:
            self.say(f"Warning: {warning}. " + " ".join(notes))
            self.status.setStyleSheet(f"color: {theme.current().warning.name()};")
        else:
            self.say(" ".join(notes))
