"""The training panel: data set, settings, the graph-and-data check, Start / Pause / Stop, progress.

A view: it shows what the training UI (app/training/ui.py) tells it and reports what the person does
through signals. The check lists every mismatch between the graph and the data set with its fix as
a button; Start stays disabled while there is one.
"""
from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (QComboBox, QFrame, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea,
                               QSizePolicy, QVBoxLayout, QWidget)

from layerloom.runtime.data import DatasetInfo

from .. import theme
from .live_label import LiveLabel
from .sample_grid import SampleGrid
from .train_settings import TrainSettings

PATH_KINDS = {"image-folder": "folder", "text-csv": "file", "text-corpus": "file"}
FILE_FILTERS = {"text-csv": "Tables (*.csv *.tsv);;All files (*)", "text-corpus": "Text files (*.txt);;All files (*)"}


class ThinProgress(QWidget):
    """A slim progress bar that repaints with the next frame (QProgressBar.setValue repaints the whole
    window at once, several milliseconds each time, in the middle of a busy frame)."""

    def __init__(self, height: int = 6, parent=None):
        super().__init__(parent)
        self.fraction = 0.0
        self.setFixedHeight(height)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_fraction(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if abs(fraction - self.fraction) * self.width() >= 0.5 or fraction in (0.0, 1.0):
            self.fraction = fraction
            self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        r = self.rect().adjusted(0, 0, -1, -1)
        radius = r.height() / 2
        p.setBrush(self.palette().mid())
        p.drawRoundedRect(r, radius, radius)
        if self.fraction > 0:
            done = r.adjusted(0, 0, -round(r.width() * (1 - self.fraction)), 0)
            p.setBrush(self.palette().highlight())
            p.drawRoundedRect(done, radius, radius)


def _muted(text: str = "") -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setStyleSheet("color: palette(placeholder-text);")
    return lab


class TrainingPanel(QWidget):
    dataset_chosen = Signal(str)          # a data set name
    path_requested = Signal()             # the person wants to choose the set's file or folder
    start_clicked = Signal()
    pause_clicked = Signal()              # pause or resume
    stop_clicked = Signal()
    fix_clicked = Signal(dict)

    def __init__(self, datasets: list[DatasetInfo], parent=None):
        super().__init__(parent)
        self.dataset = QComboBox()
        self.dataset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.dataset.setMinimumContentsLength(14)
        for info in datasets:
            self.dataset.addItem(info.title, info.name)
            self.dataset.setItemData(self.dataset.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        self.path = QLineEdit()
        self.path.setReadOnly(True)
        self.path.setPlaceholderText("no file chosen")
        self.choose = QPushButton("Choose…")
        path_row = QHBoxLayout()
        path_row.setContentsMargins(0, 0, 0, 0)
        path_row.addWidget(self.path, 1)
        path_row.addWidget(self.choose)
        self.path_box = QWidget()
        self.path_box.setLayout(path_row)
        self.data_info = _muted()
        self.data_info.setTextFormat(Qt.TextFormat.RichText)
        self.examples = SampleGrid(cell=30, min_cell=20)
        data = QGroupBox("Data set")
        d = QVBoxLayout(data)
        d.setSpacing(4)
        d.addWidget(self.dataset)
        d.addWidget(self.path_box)
        d.addWidget(self.data_info)
        d.addWidget(self.examples)
        self.settings = TrainSettings()

        body = QWidget()
        b = QVBoxLayout(body)
        b.setContentsMargins(8, 8, 8, 8)
        b.setSpacing(8)
        b.addWidget(data)
        b.addWidget(self.settings)
        b.addStretch(1)
        scroll = self.settings_scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.check = QWidget()
        self.check_layout = QVBoxLayout(self.check)
        self.check_layout.setContentsMargins(0, 0, 0, 0)
        self.check_layout.setSpacing(4)
        # Long messages (a missing download says where to put which files) scroll within a band
        # instead of pushing the settings off the panel.
        self.check_scroll = QScrollArea()
        self.check_scroll.setWidget(self.check)
        self.check_scroll.setWidgetResizable(True)
        self.check_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.check_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.check_scroll.setMaximumHeight(230)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setObjectName("runMessage")
        self.message.hide()
        self._message_args = ("", "info")
        self.start = QPushButton("▶  Start")
        self.start.setObjectName("start")
        self.start.setDefault(True)
        self.pause = QPushButton("Pause")
        self.stop = QPushButton("Stop")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start, 2)
        buttons.addWidget(self.pause, 1)
        buttons.addWidget(self.stop, 1)
        self.progress = ThinProgress(6)
        self.progress_text = LiveLabel(lines=3, max_lines=5)   # two texts that wrap in a narrow dock
        foot = QVBoxLayout()
        foot.setContentsMargins(8, 4, 8, 8)
        foot.setSpacing(6)
        foot.addWidget(self.check_scroll)
        foot.addWidget(self.message)
        foot.addLayout(buttons)
        foot.addWidget(self.progress)
        foot.addWidget(self.progress_text)
        self.progress.hide()
        self.progress_text.hide()
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(scroll, 1)
        layout.addWidget(line)
        layout.addLayout(foot)
        self.setMinimumWidth(260)

        self.dataset.currentIndexChanged.connect(lambda _i: self.dataset_chosen.emit(self.dataset.currentData()))
        self.choose.clicked.connect(self.path_requested)
        self.start.clicked.connect(self.start_clicked)
        self.pause.clicked.connect(self.pause_clicked)
        self.stop.clicked.connect(self.stop_clicked)
        self.set_state("idle")

    # -- data set -----------------------------------------------------------------------------------
    def set_dataset(self, name: str, path: str | None) -> None:
        self.dataset.blockSignals(True)
        self.dataset.setCurrentIndex(max(0, self.dataset.findData(name)))
        self.dataset.blockSignals(False)
        kind = PATH_KINDS.get(name)
        self.path_box.setVisible(kind is not None)
        self.path.setText(path or "")
        self.path.setPlaceholderText(f"no {kind or 'file'} chosen")
        self.choose.setText("Folder…" if kind == "folder" else "File…")

    def set_data_info(self, html: str) -> None:
        self.data_info.setText(html)

    # -- the check ------------------------------------------------------------------------------------
    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_check_args"):
            self.set_check(*self._check_args)          # their colours follow the theme
            self.show_message(*self._message_args)

    def set_check(self, problems: list[tuple[str, str, dict | None]], ok_text: str = "") -> None:
        """problems: (severity, message, fix) each; ok_text shows when there is no error."""
        self._check_args = (problems, ok_text)
        while self.check_layout.count():
            item = self.check_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()
                item.widget().deleteLater()
        t = theme.current()
        colours = {"error": t.error.name(), "warning": t.warning.name(), "info": t.text_muted.name()}
        marks = {"error": "✕", "warning": "!", "info": "…"}
        for severity, message, fix in problems:
            # One word-wrapped label per message, straight in the layout (so its height follows the width).
            text = QLabel(f"<span style='color:{colours.get(severity)}; font-weight:bold'>"
                          f"{marks.get(severity, '•')}</span>&nbsp; {html.escape(message)}")
            text.setWordWrap(True)
            text.setObjectName(f"check-{severity}")
            text.setProperty("message", message)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.check_layout.addWidget(text)
            for choice in (fix, *fix.get("alternatives", ())) if fix else ():   # e.g. a smaller Input, or a resize
                button = QPushButton(choice.get("label", "Fix"))
                button.setObjectName("fix")
                button.clicked.connect(lambda _=False, f=choice: self.fix_clicked.emit(f))
                fix_row = QHBoxLayout()          # one per row: a narrow dock still shows every choice whole
                fix_row.setContentsMargins(18, 0, 0, 0)
                fix_row.addWidget(button)
                fix_row.addStretch(1)
                holder = QWidget()
                holder.setLayout(fix_row)
                self.check_layout.addWidget(holder)
        if ok_text and not any(p[0] == "error" for p in problems):
            ok = QLabel(ok_text)
            ok.setWordWrap(True)
            ok.setObjectName("check-ok")
            if not any(p[0] == "warning" for p in problems):      # green only when nothing is in doubt
                ok.setStyleSheet(f"color: {'#4ade80' if t.dark else '#15803d'};")
            self.check_layout.addWidget(ok)
        QTimer.singleShot(0, self, self._fit_check)      # the new rows show (and can be measured) a moment later

    def _fit_check(self) -> None:
        """As tall as the messages need at the current width, up to 230 px (then they scroll)."""
        width = max(100, self.check_scroll.viewport().width() or self.width() - 16)
        needed = self.check_layout.totalHeightForWidth(width) if self.check_layout.count() else 0
        self.check_scroll.setFixedHeight(min(230, needed + 2))
        self._fit_message()

    def _fit_message(self) -> None:
        """The run's note keeps every line it wraps to: a dock has no height-for-width, so in a short one the
        note was squeezed and the run folder's name cut off; the settings above scroll instead."""
        width = self.message.width() if self.message.isVisible() else self.width() - 16
        self.message.setMinimumHeight(self.message.heightForWidth(max(100, width)) if self.message.text() else 0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_check()

    def check_texts(self, severity: str | None = None) -> list[str]:
        names = {f"check-{severity}"} if severity else {"check-error", "check-warning", "check-info", "check-ok"}
        shown = [self.check_layout.itemAt(i).widget() for i in range(self.check_layout.count())]
        return [w.property("message") or w.text() for w in shown if isinstance(w, QLabel) and w.objectName() in names]

    def fix_buttons(self) -> list[QPushButton]:
        shown = [self.check_layout.itemAt(i).widget() for i in range(self.check_layout.count())]
        return [b for w in shown if w is not None for b in w.findChildren(QPushButton) if b.objectName() == "fix"]

    # -- the run --------------------------------------------------------------------------------------
    def set_state(self, state: str, stoppable: bool = False) -> None:
        """Show a run state (a RunState value of app/training/controller.py); `stoppable`: Stop also
        cancels a start that waits for the data set."""
        active = state in ("running", "paused", "stopping")
        self.start.setEnabled(state in ("ready", "finished", "failed", "stopped"))
        self.pause.setEnabled(state in ("running", "paused"))
        self.pause.setText("Resume" if state == "paused" else "Pause")
        self.stop.setEnabled(state in ("running", "paused") or stoppable)
        self.dataset.setEnabled(not active)
        self.choose.setEnabled(not active)
        self.check_scroll.setVisible(not active)
        self.settings.set_mode("paused" if state == "paused" else "running" if active else "idle")

    def show_message(self, text: str, kind: str = "info") -> None:
        """A note under the check: the runtime's failure message, or what happened to the run."""
        self._message_args = (text, kind)
        if not text:
            self.message.hide()
            return
        t = theme.current()
        colour = {"error": t.error, "warning": t.warning}.get(kind, t.text_muted)
        text_colour = colour if kind != "info" else t.text
        self.message.setStyleSheet(f"QLabel#runMessage {{ color: {text_colour.name()}; border: 1px solid "
                                   f"{colour.name()}; border-radius: 4px; padding: 6px; }}")
        self.message.setText(text)
        self.message.show()
        self._fit_message()

    def set_progress(self, fraction: float, text: str) -> None:
        """The run's progress; with nothing to say (no run yet) the bar and its three lines give their room
        to the settings."""
        self.progress.set_fraction(fraction)
        self.progress_text.setText(text)
        self.progress.setVisible(bool(text) or fraction > 0)
        self.progress_text.setVisible(bool(text))
