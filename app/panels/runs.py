"""The runs list: every run folder under the runs folder (the app's and `layerloom train`'s alike),
with its settings, final metrics and training health (the worst of its health.json); select several
to overlay their curves from metrics.csv, with their legend in a column beside the plots."""
from __future__ import annotations

import html
import json
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QBoxLayout, QFileDialog, QFrame, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QListWidgetItem, QPlainTextEdit,
                               QSizePolicy, QToolButton, QSplitter, QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from layerloom.runtime.health_indicators import level_of, read_summary
from layerloom.runtime.processes import resume_refusal, trained_elsewhere
from layerloom.runtime.runs import RunInfo, list_runs, read_metrics, read_run

from .. import plot_style as ps, theme
from ..docks import in_sight

COLUMNS = ("Run", "Graph", "Data set", "Epochs", "Val acc", "Health", "Val loss", "Status")
HEALTH, STATUS = COLUMNS.index("Health"), COLUMNS.index("Status")
MARKS = {"ok": "✓", "warn": "!", "bad": "✕"}
RESUME_TIP = "Continue the selected stopped, interrupted or failed run of the open graph from its latest checkpoint"
RESUMABLE = ("stopped", "interrupted")
# A run that failed after a checkpoint (a data worker killed when memory ran out, a file gone) goes on from it too,
# as `layerloom train --resume` does and its message says; one that failed before its first checkpoint cannot.
RESUMABLE_FAILED = "failed"
NOTHING_TO_RESUME = "The selected run failed before its first checkpoint: there is nothing to resume; train it again"
RESUME_WAITS = "A run is training: stop it (or let it end) to resume another"
FOLDER_TIP = "Choose the folder that holds the run folders"
FOLDER_WAITS = "A run is training into this folder: stop it (or let it end) to choose another"
COMPACT_HIDDEN = (1, 2, 6)  # graph, data set and val loss: in the tooltip and the details when the list is narrow


def _epochs_text(summary: dict) -> str:
    """The Epochs column: the epochs a run finished, and its steps when it ended before the first (Max steps)."""
    epochs, steps = summary.get("epochs", "–"), summary.get("steps")
    return f"0 ({steps:,} steps)" if epochs == 0 and isinstance(steps, int) and steps > 0 else str(epochs)


def _fmt(v, pattern: str) -> str:
    return pattern.format(v) if isinstance(v, (int, float)) else "–"


def describe_config(cfg: dict) -> str:
    """The settings of a run, one per line, the interesting ones first."""
    first = ("dataset", "optimizer", "lr", "batch_size", "epochs", "schedule", "weight_decay", "momentum", "loss",
             "augment", "device", "seed")
    lines = []
    for key in first + tuple(k for k in cfg if k not in first):
        if key in cfg and cfg[key] not in ({}, None, ""):
            value = json.dumps(cfg[key]) if isinstance(cfg[key], (dict, list)) else cfg[key]
            lines.append(f"{key:>14}  {value}")
    return "\n".join(lines)


def run_labels(runs: list[RunInfo]) -> list[str]:
    """Short legend labels: the settings that differ between the runs (lr=0.001, batch_size=32), else
    each run's start time."""
    configs = [r.config or {} for r in runs]
    keys = sorted({k for c in configs for k in c})
    differ = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    if len(runs) > 1 and differ:
        return [", ".join(f"{k}={json.dumps(c.get(k)) if isinstance(c.get(k), (dict, list)) else c.get(k)}"
                          for k in differ[:2]) for c in configs]
    return [r.name[9:15] if r.name[:8].isdigit() else r.name for r in runs]   # the time of day, HHMMSS


def health_cell(summary: dict | None) -> tuple[str, str, str | None]:
    """A run's health in the list: (text, tooltip, level). The text names the indicators at the run's
    worst level ("✓ healthy", "! dead units", "✕ update ratio, dead units"); the tooltip gives each
    indicator's worst value and block, then every problem the run was warned about."""
    level = level_of(summary)
    if level is None:
        return "–", "No training health recorded for this run.", None
    worst = summary["worst"]
    names = [i["title"] if i["key"] == "nonfinite" else i["title"].lower() for i in worst if i["level"] == level]
    text = f"{MARKS[level]} " + ("healthy" if level == "ok" else ", ".join(names))
    lines = [f"<b>Training health</b>, worst of {summary.get('samples', '?')} samples "
             f"(every {summary.get('every', '?')} steps):"]
    for i in worst:
        where = f" at {i['block']}" if i.get("block") and i["level"] != "ok" else ""
        lines.append(f"{MARKS.get(i['level'], '•')} {i['title']}: {i['value']}{where}")
    lines += [f"● {p['text']}" for p in summary.get("problems", [])]
    return text, "<br>".join(_escape(x) if not x.startswith("<b>") else x for x in lines), level


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _button(text: str, parent) -> QToolButton:
    """A compact push button (a QPushButton's style minimum of 80 px each made the bottom docks, and so the
    window, too wide for small screens)."""
    b = QToolButton(parent)
    b.setText(text)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return b


class RunsPanel(ps.NarrowTitles, QWidget):
    narrow_px = 760            # the panel's width below which its curves take the short titles

    folder_changed = Signal(str)
    export_requested = Signal(object)     # the selected run folder (a Path)
    resume_requested = Signal(object)     # the selected run folder (a Path)

    def __init__(self, base: Path, parent=None):
        super().__init__(parent)
        self.base = Path(base)
        self.extra: list[Path] = []       # run folders shown beside the base folder's (a sweep's trials)
        self.labels: dict[str, str] = {}  # run folder -> its legend label, where the caller named it
        self.runs: list[RunInfo] = []
        self._read: dict = {}             # run folders as last read: unchanged ones are not read again
        self.training = False             # a run trains in this window: Resume waits until it has ended
        self.training_path: Path | None = None   # that run's folder, once the trainer has made it
        self._overlay_stale = False       # the selection changed while nothing of the panel could be seen
        self.folder = QLabel(self)
        self.folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.folder.setMinimumWidth(60)
        self.change = _button("Folder…", self)
        self.change.setToolTip(FOLDER_TIP)
        self.refresh_button = _button("Refresh", self)
        self.refresh_button.setToolTip("Look for new runs (for example ones trained with `layerloom train`)")
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        top.addWidget(self.folder, 1)
        self.export_button = _button("Export…", self)
        self.export_button.setToolTip("Export the selected run's trained model (ONNX, pt2, weights, a project)")
        self.resume_button = _button("Resume", self)
        self.resume_button.setToolTip(RESUME_TIP)
        top.addWidget(self.change)
        top.addWidget(self.refresh_button)

        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        # Right: the selected runs' curves (accuracy over loss) and, in a tab, their settings.
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.acc_plot = self.graphics.addPlot(row=0, col=0, viewBox=ps.MenuOnDemand())
        self.loss_plot = self.graphics.addPlot(row=1, col=0, viewBox=ps.MenuOnDemand())
        self.loss_plot.setXLink(self.acc_plot)
        # The legend is a list of its own beside the plots: it never covers a curve.
        self.legend = QListWidget(self)
        self.legend.setObjectName("runsLegend")
        self.legend.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.legend.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.legend.setFrameShape(QFrame.Shape.NoFrame)
        self.legend.setWordWrap(True)      # its size limits: restyle()
        self.legend.setIconSize(QSize(22, 10))
        self.legend.hide()
        curves = QWidget(self)
        self._curves_row = row = QHBoxLayout(curves)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.graphics, 1)
        row.addWidget(self.legend)
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a run to see its settings; select several to compare their curves.")
        self.details.setFont(_mono())
        self.side = QTabWidget(self)
        self.side.setDocumentMode(True)
        self.side.addTab(curves, "Curves")
        self.side.addTab(self.details, "Settings")
        split = QSplitter(Qt.Orientation.Horizontal, self)
        left = QWidget(self)
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.tree, 1)
        actions = QHBoxLayout()
        actions.setContentsMargins(6, 0, 6, 2)
        actions.addWidget(self.export_button)
        actions.addWidget(self.resume_button)
        actions.addStretch(1)
        column.addLayout(actions)
        split.addWidget(left)
        split.addWidget(self.side)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self.tree.installEventFilter(self)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(lambda: self.export_requested.emit(self.selected_paths()[0]))
        self.resume_button.clicked.connect(lambda: self.resume_requested.emit(self.selected_paths()[0]))
        self.change.clicked.connect(self._choose_folder)
        self.restyle()
        self.refresh()

    def restyle(self) -> None:
        narrow = self.narrow()
        ps.style_widget(self.graphics)
        ps.style_plot(self.acc_plot, title="Val. accuracy %" if narrow else "Validation accuracy %")
        ps.style_plot(self.loss_plot, bottom="epoch", title="Loss: val., - - train" if narrow else
                      "Loss: validation, - - train")
        # Narrow (the Runs tab beside Validation on a 1280-pixel screen), the legend goes under the
        # curves, full width, instead of taking most of the room beside them.
        self._curves_row.setDirection(QBoxLayout.Direction.TopToBottom if narrow else
                                      QBoxLayout.Direction.LeftToRight)
        self.legend.setMaximumSize(16777215 if narrow else 170, 64 if narrow else 16777215)
        self.legend.setMinimumWidth(0 if narrow else 90)
        c = ps.colors()
        self.legend.setStyleSheet(f"QListWidget#runsLegend {{ background: {c.background.name()}; "
                                  f"color: {c.muted.name()}; }}")

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle()
            self._selection_changed()
        super().changeEvent(event)

    # -- the list ---------------------------------------------------------------------------------
    def set_base(self, base: Path) -> None:
        self.base = Path(base)
        self.extra, self.labels = [], {}
        self.refresh()

    def compare(self, paths, labels: dict | None = None) -> None:
        """List these run folders too (wherever they are: a sweep keeps its trials' runs in its own folder)
        and select exactly them, so their curves overlay; `labels`: {run folder: legend label}."""
        self.extra = [Path(p) for p in paths]
        self.labels = {str(Path(k)): v for k, v in (labels or {}).items()}
        self.refresh(select=[str(p) for p in self.extra])

    def refresh(self, select: str | list[str] | None = None) -> None:
        """Re-read the runs folder; keeps the selection (or selects the run folder(s) `select`)."""
        keep = {str(p) for p in self.selected_paths()}
        if select:
            keep = {str(Path(p)) for p in ([select] if isinstance(select, str) else select)}
        damaged: list[str] = []
        self.runs = list_runs(self.base, self._read, damaged)  # the Runs tab re-reads each time it is shown
        known = {str(r.path) for r in self.runs}
        extra = [r for r in (read_run(p, self._read) for p in self.extra) if r is not None and str(r.path) not in known]
        self.runs += extra
        note = f" · and {len(extra)} sweep trial run{'s' if len(extra) != 1 else ''}" if extra else ""
        if damaged:
            note += (f" · <span style='color:{theme.current().warning.name()}'>{len(damaged)} damaged run "
                     f"folder{'s' if len(damaged) != 1 else ''} left out (hover for which)</span>")
        self.folder.setText(f"Runs in <b>{html.escape(str(self.base), quote=False)}</b>{note}")
        self.folder.setToolTip("\n".join(damaged))
        self.tree.blockSignals(True)
        self.tree.clear()
        for run in self.runs:
            item = self._item(run)
            self.tree.addTopLevelItem(item)
            if str(run.path) in keep:
                item.setSelected(True)
        self.tree.blockSignals(False)
        self._selection_changed()

    def show_run(self, path) -> None:
        """A run has ended in folder `path`: read that folder again, put its row where the list has it
        (newest first) and select exactly it. The other rows stay as they were read, so a run's end costs
        one run's files, not every run's (with 72 runs in the folder a full re-read took 67 ms of the GUI
        thread; Refresh reads them all). A folder outside the runs folder, or one that is no run, is
        left to a full re-read, as before."""
        path = Path(path)
        run = read_run(path)
        if run is None or path.parent != self.base:
            self.refresh(select=str(path))
            return
        index = next((i for i, r in enumerate(self.runs) if r.path == path), None)
        self.tree.blockSignals(True)
        if index is not None:                      # a run resumed into its own folder: its row again
            self.runs[index] = run
            self.tree.takeTopLevelItem(index)
        else:                                      # before the first older run, and before the sweep trials
            index = next((i for i, r in enumerate(self.runs) if r.path.parent != self.base or r.name < run.name),
                         len(self.runs))
            self.runs.insert(index, run)
        self.tree.insertTopLevelItem(index, self._item(run))
        self.tree.clearSelection()
        self.tree.topLevelItem(index).setSelected(True)
        self.tree.blockSignals(False)
        self._selection_changed()

    def set_training(self, training: bool, path=None) -> None:
        """A run trains in this window, in folder `path` (None while the trainer has not made it yet): its
        row says "training" rather than what its files said when they were read (a resumed run's
        "stopped"), and Resume waits until the run has ended (one run trains at a time)."""
        self.training = training
        self.training_path = Path(path) if training and path else None
        for i, run in enumerate(self.runs):
            self.tree.topLevelItem(i).setText(STATUS, self._status(run))
        self._update_buttons()

    def _status(self, run: RunInfo) -> str:
        """"training" (here), "training elsewhere" (another process), what its summary says, or for a run with
        no summary: "interrupted" (its process was killed after a checkpoint: Resume goes on from it) or
        "incomplete" (killed before its first checkpoint, or a summary that cannot be read)."""
        if self.training_path is not None and run.path == self.training_path:
            return "training"
        if trained_elsewhere(run.path) is not None:
            return "training elsewhere"
        status = (run.summary or {}).get("status")
        if status:
            return str(status)
        killed = not (run.path / "summary.json").exists() and (run.path / "checkpoints" / "latest.json").exists()
        return "interrupted" if killed else "incomplete"        # (incomplete: killed early, or a spoilt summary)

    def _item(self, run: RunInfo) -> QTreeWidgetItem:
        """The row of one run: its settings, final metrics, health and status."""
        s = run.summary or {}
        cfg = run.config or {}
        status = self._status(run)
        health, health_tip, level = health_cell(read_summary(run.path))
        item = QTreeWidgetItem([run.name, run.graph_name, str(cfg.get("dataset", "")),
                                _epochs_text(s), _fmt(s.get("val_accuracy"), "{:.2%}"), health,
                                _fmt(s.get("val_loss"), "{:.4f}"), status])
        item.setToolTip(HEALTH, health_tip)
        if level is not None:
            item.setForeground(HEALTH, self._level_colour(level))
        item.setData(0, Qt.ItemDataRole.UserRole, str(run.path))
        item.setToolTip(0, f"{run.graph_name} · {cfg.get('dataset', '')} · {run.path}")
        if status == "failed":
            item.setToolTip(STATUS, str(s.get("message", "")))
        elif status == "training elsewhere":          # which process, or which machine, and what to do
            item.setToolTip(STATUS, resume_refusal(run.path) or "")
        for col in (3, 4, 6):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return item

    def _level_colour(self, level: str) -> QColor:
        t = theme.current()
        return {"ok": ps.colors().ok, "warn": t.warning, "bad": t.error}[level]

    def eventFilter(self, obj, event) -> bool:
        if obj is self.tree and event.type() == QEvent.Type.Resize:
            narrow = self.tree.width() < 720           # the list's own width (the curves take the rest)
            for col in COMPACT_HIDDEN:
                self.tree.setColumnHidden(col, narrow)
        return False

    def selected_paths(self) -> list[Path]:
        return [Path(i.data(0, Qt.ItemDataRole.UserRole)) for i in self.tree.selectedItems()]

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Runs folder", str(self.base))
        if path:
            self.set_base(Path(path))
            self.folder_changed.emit(path)

    # -- overlay and details ------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        paths = self.selected_paths()
        one = next((r for r in self.runs if r.path == paths[0]), None) if len(paths) == 1 else None
        status = self._status(one) if one is not None else None
        kept = one is not None and (one.path / "checkpoints" / "latest.json").exists()
        resumable = status in RESUMABLE or (status == RESUMABLE_FAILED and kept)
        self.export_button.setEnabled(kept)
        self.resume_button.setEnabled(resumable and not self.training)
        self.resume_button.setToolTip(RESUME_WAITS if self.training else
                                      NOTHING_TO_RESUME if status == RESUMABLE_FAILED and not kept else RESUME_TIP)
        self.change.setEnabled(not self.training)      # the run that trains stays in the list it is in
        self.change.setToolTip(FOLDER_WAITS if self.training else FOLDER_TIP)

    def _selection_changed(self) -> None:
        paths = self.selected_paths()
        by_path = {str(r.path): r for r in self.runs}
        self._update_buttons()
        # Out of sight (the Runs tab behind Curves as a run ends) the curves wait: the window refreshes
        # the list when the tab comes to the front (app/training/ui.py), and a hidden panel redraws
        # when shown.
        self._overlay_stale = not in_sight(self)
        if not self._overlay_stale:
            self._draw_overlay([by_path[str(p)] for p in paths if str(p) in by_path])
        self._show_details(paths, by_path)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._overlay_stale:
            self._selection_changed()

    def _draw_overlay(self, chosen: list[RunInfo]) -> None:
        """The chosen runs' validation accuracy and losses per epoch, and their legend."""
        for p in (self.acc_plot, self.loss_plot):
            for item in list(p.listDataItems()):
                p.removeItem(item)
        self.legend.clear()
        most = 0
        for k, (run, label) in enumerate(zip(chosen, run_labels(chosen))):
            label = self.labels.get(str(run.path), label)
            color = ps.RUN_COLORS[k % len(ps.RUN_COLORS)]
            rows = read_metrics(run.path)
            if not rows:
                continue
            epochs = [r["epoch"] for r in rows]
            most = max(most, max(epochs))
            self.acc_plot.plot(epochs, [_number(r["val_accuracy"]) * 100 for r in rows], pen=ps.pen(color, 2),
                               symbol="o", symbolSize=5, symbolBrush=ps.brush(color), symbolPen=None)
            self.legend.addItem(QListWidgetItem(_line_icon(color), label))
            self.legend.item(self.legend.count() - 1).setToolTip(run.name)
            self.loss_plot.plot(epochs, [_number(r["val_loss"]) for r in rows], pen=ps.pen(color, 2), symbol="o",
                                symbolSize=4, symbolBrush=ps.brush(color), symbolPen=None)    # one epoch: a dot
            dashed = ps.pen(color, 1.5, 160)
            dashed.setStyle(Qt.PenStyle.DashLine)
            self.loss_plot.plot(epochs, [_number(r["train_loss"]) for r in rows], pen=dashed)
        self.legend.setVisible(self.legend.count() > 0)
        spacing = (1, 1) if 0 < most <= 12 else (None, None)     # whole epochs on a short axis
        for p in (self.acc_plot, self.loss_plot):
            p.getAxis("bottom").setTickSpacing(*spacing)

    def _show_details(self, paths: list[Path], by_path: dict) -> None:
        """The settings, result and health of the selected run, or the settings of each selected run."""
        if len(paths) == 1 and str(paths[0]) in by_path:
            run = by_path[str(paths[0])]
            text = describe_config(run.config)
            if run.summary:
                s = run.summary
                text += f"\n\n{'result':>14}  {s.get('status', '')}, {s.get('steps', '?')} steps in " \
                        f"{s.get('seconds', '?')} s on {s.get('device', '?')}"
                if s.get("message"):
                    text += f"\n{'':>14}  {s['message']}"
            health = read_summary(run.path)
            if health is not None:
                text += f"\n{'health':>14}  {health_cell(health)[0]}"
                text += "".join(f"\n{'':>14}  {p['text']}" for p in health.get("problems", []))
            self.details.setPlainText(text)
        elif paths:
            self.details.setPlainText("\n\n".join(f"{p.name}\n{describe_config(by_path[str(p)].config)}"
                                                  for p in paths if str(p) in by_path))
        else:
            self.details.clear()


def _number(value) -> float:
    """A metric to plot: a value missing from metrics.csv is a gap (nan), not a crash."""
    return float("nan") if value is None else value


def _line_icon(color: str) -> QIcon:
    """A short thick line with a dot in a run's colour: its curves' mark in the legend."""
    pix = QPixmap(22, 10)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(QColor(color), 2.5))
    p.drawLine(1, 5, 21, 5)
    p.setBrush(QColor(color))
    p.drawEllipse(QPointF(11, 5), 3, 3)
    p.end()
    return QIcon(pix)


def _mono():
    from .. import theme
    return theme.mono_font(9)
