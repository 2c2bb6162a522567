"""The Explain panel: why a trained run predicts what it does, what its filters learnt, how it trained.

Explain tab: the validation samples the run gets wrong as a grid (one click explains one), the
method and block, and the picture `layerloom explain` writes (the sample, the attribution laid
over it, the top-5). The work runs in a background Job with a progress bar and Cancel. Filters tab: the
first convolution's filters. Health tab: the run's health.csv as a blocks × steps heat strip. Block
tab: a block's weight and activation histograms and the top-9 samples of one of its channels.
All numbers come from layerloom.runtime (explain, learnt, health); this file only shows them.
"""
from __future__ import annotations

import html

import numpy as np
import torch
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from layerloom.runtime.explain import (METHODS, Cancelled, ExplainError, class_scores, default_gradcam_block, explain,
                                      image_blocks)
from layerloom.runtime.heatmaps import explanation_image, health_strip_image, to_display
from layerloom.runtime.health import STATS, read_health, skipped_note
from layerloom.runtime.learnt import filter_grid

from ..background import Job, Latest, keep_until_finished
from .block_learnt import BlockLearnt

WRONG_SHOWN = 48
HEALTH_STAT = "grad_rms"
NO_RUN = "No trained run yet: train the graph (F5), then come back."
PICTURE = 150                        # pixels per side of the sample and of its overlay


def qimage(rgb: np.ndarray) -> QImage:
    """An H×W×3 uint8 array as a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _why(exc: Exception) -> str:
    """An explanation that did not finish, in the panel's words."""
    if isinstance(exc, Cancelled):
        return "Cancelled."
    if isinstance(exc, ExplainError):
        return str(exc)
    return f"The explanation failed: {type(exc).__name__}: {exc}"


class ExplainPanel(QWidget):
    explained = Signal(object)          # the Explanation, once shown
    loaded = Signal(bool)               # a run asked for with load_run: shown (True), or why not in `message`
    filters_seen = Signal()             # a run's filters are on the screen (filters_in_view turned True)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.subject = None
        self.job: Job | None = None
        self.current_index: int | None = None
        self._picked = False                 # a sample explained since the run loaded: keep it current
        self.run_dir = None
        self._asked = None
        self._explain_when_loaded = False
        self.loader = Latest("layerloom-explain-run", expected=(ExplainError, Cancelled), parent=self)
        self.loader.done.connect(self._run_opened)
        self.lists = Latest("layerloom-explain-wrong", expected=(ExplainError, Cancelled), parent=self)
        self.lists.done.connect(self._wrong_found)
        layout = QVBoxLayout(self)
        self.title = QLabel(NO_RUN)
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        self.tabs.addTab(self._explain_tab(), "Explain")
        self.filters = QLabel("No convolution filters to show.")
        self.filters.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.filters)
        scroll.setWidgetResizable(True)
        self.filters_tab = scroll
        self.tabs.addTab(scroll, "Filters")
        self.tabs.currentChanged.connect(lambda _i: self._tell_filters_seen())
        self.health = QLabel("No training health recorded for this run.")
        self.health.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.health.setWordWrap(True)          # a sentence wraps instead of widening the panel
        self.health_note = QLabel("")          # what a damaged health.csv left out, above the strip
        self.health_note.setWordWrap(True)
        self.health_note.setTextFormat(Qt.TextFormat.PlainText)
        self.health_note.hide()
        health_tab = QWidget()
        health_col = QVBoxLayout(health_tab)
        health_col.setContentsMargins(0, 0, 0, 0)
        health_col.addWidget(self.health_note)
        health_col.addWidget(self.health, 1)
        self.tabs.addTab(health_tab, "Health")
        self.block_view = BlockLearnt(qimage)
        self.tabs.addTab(self.block_view, "Block")
        self.controls = (self.method, self.block, self.sample, self.explain_button, self.wrong)
        self._no_run()

    def _no_run(self) -> None:
        """No run asked for yet: one sentence says what to do, and nothing looks as if it could be used."""
        self.title.setText(NO_RUN)
        self.message.hide()                  # what app/explaining.py says of a missing run: the title says it
        self.wrong_title.setText("")
        self.picture.setText("")
        for w in self.controls:
            w.setEnabled(False)

    def _explain_tab(self) -> QWidget:
        tab = QWidget()
        col = QVBoxLayout(tab)
        row = QHBoxLayout()
        row.addWidget(QLabel("Method"))
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.method.setCurrentText("gradcam")
        row.addWidget(self.method)
        row.addWidget(QLabel("Block"))
        self.block = QComboBox()
        self.block.setMinimumWidth(90)
        row.addWidget(self.block)
        row.addStretch(1)
        col.addLayout(row)
        row = QHBoxLayout()                       # a second row: the panel fits the bottom of a 1024-pixel window
        self.sample = QSpinBox()                  # any validation sample, not only the wrong ones below
        self.sample.setPrefix("sample ")
        self.sample.setRange(0, 0)
        self.sample.setEnabled(False)             # until the data set has loaded (its size is the range)
        self.sample.setToolTip("Which validation sample Explain explains; a click on a sample below picks it too")
        self.sample.valueChanged.connect(self._sample_typed)
        row.addWidget(self.sample)
        self.explain_button = QPushButton("Explain")
        self.explain_button.clicked.connect(lambda: self.explain_sample(self.current_index))
        row.addWidget(self.explain_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        keep = self.progress.sizePolicy()
        keep.setRetainSizeWhenHidden(True)         # shown only while explaining, without moving the row
        self.progress.setSizePolicy(keep)
        self.progress.hide()
        row.addWidget(self.progress)
        row.addStretch(1)
        col.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        col.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lcol = QVBoxLayout(left)
        lcol.setContentsMargins(0, 0, 0, 0)
        self.wrong_title = QLabel("Validation samples it gets wrong")
        lcol.addWidget(self.wrong_title)
        self.wrong = QListWidget()
        self.wrong.setViewMode(QListWidget.ViewMode.IconMode)
        self.wrong.setIconSize(QSize(48, 48))
        self.wrong.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.wrong.setMovement(QListWidget.Movement.Static)
        self.wrong.setSpacing(2)
        self.wrong.setTextElideMode(Qt.TextElideMode.ElideMiddle)    # long names that start alike still differ
        self.wrong.itemClicked.connect(lambda item: self.explain_sample(item.data(Qt.ItemDataRole.UserRole)))
        lcol.addWidget(self.wrong, 1)
        split.addWidget(left)
        self.picture = QLabel("Click a sample on the left to explain it.")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.picture_scroll = scroll = QScrollArea()
        scroll.setWidget(self.picture)
        scroll.setWidgetResizable(True)
        split.addWidget(scroll)
        left.setMinimumWidth(170)
        self.wrong_title.setWordWrap(True)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 900])
        col.addWidget(split, 1)
        return tab

    # -- a run ---------------------------------------------------------------------------------------
    def load_run(self, run_dir) -> None:
        """Show a trained run (a run folder, a checkpoint or a graph file). Reading its weights, building its
        network and trying it on one input run in a background Job (seconds for a large network): the panel
        says it is loading meanwhile, and `loaded(bool)` tells when it is shown, or why not (`message`). A
        newer run asked for before it ends wins; the older answer is dropped."""
        self.cancel()
        for jobs in (self.lists, self.block_view.jobs):
            jobs.drop_queued()
            jobs.cancel_running()
        self.subject = None
        self.block_view.set_subject(None, [])
        self._explain_when_loaded = False
        self.run_dir = run_dir
        self.title.setText(f"Loading {html.escape(str(run_dir))}…")
        self.message.setText("")
        self.message.show()
        for w in self.controls:
            w.setEnabled(w is not self.sample)     # the sample box: once the data set has loaded
        self.wrong.clear()
        self.wrong_title.setText("Validation samples it gets wrong: loading the trained model, then the data set, "
                                 "and looking through the validation set…")
        self.block.clear()
        self.picture.clear()                      # nothing of the run before stays on any tab
        self.picture.setText("Click a sample on the left to explain it.")
        self.picture.setToolTip("")
        self.filters.clear()
        self.filters.setText("No convolution filters to show.")
        self.health.clear()
        self._show_health("No training health recorded for this run.")
        self._asked = asked = object()            # this request: an older one's answer is dropped
        self.loader.cancel_running()
        self.loader.submit(asked, lambda job: _open_run(run_dir, job.cancel))

    @property
    def loading(self) -> bool:
        return self.loader.running is not None or self.loader.queued is not None

    def wait_loaded(self, timeout_ms: int = 60_000) -> bool:
        """Wait (handling events) until the run asked for last has loaded; True when one is shown."""
        return self.loader.wait(timeout_ms) and self.subject is not None

    def _run_opened(self, job) -> None:
        if job.key is not self._asked or job.cancelled:
            return                                   # another run was asked for since: it shows instead
        if job.error:
            self.title.setText(f"Cannot explain {html.escape(str(self.run_dir))}")
            self.wrong_title.setText("Validation samples it gets wrong")
            self.message.setText(job.error)
            self._explain_when_loaded = False
            self.loaded.emit(False)
            return
        got = job.result
        self.subject = subject = got["subject"]
        self.title.setText(f"<b>{html.escape(subject.doc.name)}</b> — {html.escape(str(self.run_dir))}")
        self.wrong_title.setText("Validation samples it gets wrong: loading the data set and looking through "
                                 "the validation set…")
        self._picked = False
        if not got["image"] and self.method.currentText() in ("gradcam", "occlusion"):
            self.method.setCurrentText("saliency")      # the image methods cannot explain tokens or sequences
        self.block.addItems(got["blocks"])
        if got["blocks"]:
            self.block.setCurrentText(got["default"] or "")
        if got["image"] and not self.block.count() and self.method.currentText() == "gradcam":
            self.method.setCurrentText("saliency")      # no channels × height × width block to explain through
        self._show_current(0)                     # the first wrong sample once they are found
        self._show_filters(got["filters"])
        self._show_health(*got["health"])
        self.block_view.set_subject(subject, got["graph_blocks"])
        self.lists.submit(subject, lambda job, subject=subject: _wrong_samples(subject, job.cancel))
        self.loaded.emit(True)
        if self._explain_when_loaded:             # Explain pressed while the run loaded
            self._explain_when_loaded = False
            self.explain_sample(self.current_index)

    def _wrong_found(self, job) -> None:
        """The wrong samples found in the background, shown when they are for the run loaded now."""
        if job.key is not self.subject or job.cancelled:
            return                                  # a run loaded since, or a panel closed, wants none
        if job.error:
            self.wrong_title.setText(f"Validation samples it gets wrong: {job.error}")
            return
        wrong, raws = job.result
        self.sample.setMaximum(len(self.subject.val) - 1)     # loaded by the job: its size is known now
        self.sample.setEnabled(True)
        names = self.subject.class_names
        self.wrong.clear()
        for w, raw in zip(wrong, raws):
            item = QListWidgetItem(self._thumbnail(raw), f"{_name(names, w['predicted'])}")
            item.setToolTip("<qt>" + html.escape(        # class names from files, shown as written
                f"validation sample {w['index']}: a {_name(names, w['label'])}, predicted "
                f"{_name(names, w['predicted'])} ({w['probability'] * 100:.0f}%)"))
            item.setData(Qt.ItemDataRole.UserRole, w["index"])
            self.wrong.addItem(item)
        self.wrong_title.setText(f"Validation samples it gets wrong ({len(wrong)}"
                                 f"{'+' if len(wrong) >= WRONG_SHOWN else ''}; label under each: its prediction)"
                                 if wrong else f"It gets all {len(self.subject.val):,} validation samples right: "
                                               "Explain shows why it predicts validation sample 0")
        if wrong and not self._picked:
            self._show_current(wrong[0]["index"])

    def _show_current(self, index: int) -> None:
        """`index` is the sample Explain explains now; the sample box shows it (as far as its range goes)."""
        self.current_index = index
        self.sample.blockSignals(True)
        self.sample.setMaximum(max(self.sample.maximum(), index))
        self.sample.setValue(index)
        self.sample.blockSignals(False)

    def _sample_typed(self, value: int) -> None:
        self.current_index, self._picked = value, True

    def _thumbnail(self, raw: np.ndarray) -> QIcon:
        if raw.ndim == 3:
            return QIcon(QPixmap.fromImage(qimage(to_display(raw))))
        return QIcon()

    def _show_filters(self, grid) -> None:
        """conv1's filters as a picture, or (text) why there are none."""
        if isinstance(grid, str):
            self.filters.setText(grid)
        else:
            self.filters.setPixmap(QPixmap.fromImage(qimage(grid)))
            self._tell_filters_seen()         # the Filters tab may be current already: no tab change to tell

    def filters_in_view(self) -> bool:
        """Whether a run's filters are on the screen: the panel shown, its Filters tab current, a picture on it."""
        pixmap = self.filters.pixmap()
        return self.isVisible() and self.tabs.currentWidget() is self.filters_tab and \
            pixmap is not None and not pixmap.isNull()

    def _tell_filters_seen(self) -> None:
        if self.filters_in_view():
            self.filters_seen.emit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._tell_filters_seen()             # the dock opened again on the Filters tab

    def _show_health(self, health, note: str | None = None) -> None:
        """The run's health strip as a picture, or (text) why there is none; `note`: what a damaged health.csv
        left out of the strip."""
        self.health.setToolTip("")
        self.health_note.setVisible(bool(note))
        self.health_note.setText(f"Drawn from what could be read: {note}." if note else "")
        if isinstance(health, str):
            self.health.setText(health)
            return
        self.health.setPixmap(QPixmap.fromImage(qimage(health)))
        self.health.setToolTip(f"The gradient RMS at each block's output over the run, from health.csv "
                               f"(also recorded: {', '.join(STATS)})")

    # -- explaining ----------------------------------------------------------------------------------
    def explain_sample(self, index: int | None) -> None:
        if self.subject is None and self.loading:
            self._explain_when_loaded = True
            self.message.setText("Explains as soon as the run has loaded…")
            return
        if self.subject is None or index is None:
            self.message.setText("Load a trained run first (Train ▸ Explain Predictions).")
            return
        self.cancel()
        self._picked = True
        self._show_current(int(index))
        index = self.current_index
        subject, method = self.subject, self.method.currentText()
        block = self.block.currentText() or None if method == "gradcam" else None

        def work(progress, cancel):
            raw, x, label = subject.sample(index)      # the first one may load the data set: not in the GUI thread
            words = subject.words(x)            # a token-id sample shows its words beside their bars
            e = explain(subject.model, x, method, block=block, class_names=subject.class_names,
                        progress=progress, cancel=cancel)
            image = explanation_image(raw[0].numpy() if raw.is_floating_point() else x[0].numpy(), e,
                                      subject.class_names, label=label, size=PICTURE, tokens=words,
                                      title=f"validation sample {index}: {method}"
                                            + (f" on {e.block}" if e.block and e.kind == "image" else ""))
            return e, np.asarray(image.convert("RGB"))

        self.job = self.explain_job(work)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.message.setText(f"Explaining validation sample {index} with {method}…")
        self.job.start()

    def explain_job(self, work) -> Job:
        """A Job that runs `work(progress, cancel)` (cancel: a threading.Event) with this panel's progress
        bar, and shows its picture, or why there is none, when it ends."""
        job = Job(lambda: work(job.progress.emit, job.cancel), name="layerloom-explain", describe=_why, parent=self)
        job.progress.connect(self._progress)
        job.finished.connect(lambda: self._ended(job))
        return job

    def _ended(self, job: Job) -> None:
        if self.job is not None and job is not self.job:
            return            # replaced by a newer explanation: its progress and its picture show
        self._finished()
        if job.cancelled:     # asked to stop: whatever it finished with is no longer wanted
            self._failed("Cancelled.")
        elif job.error:
            self._failed(job.error)
        elif job.result is not None:
            self._done(job.result)

    def _progress(self, done: int, total: int):
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _done(self, result):
        e, rgb = result
        pix = QPixmap.fromImage(qimage(rgb))
        room = self.picture_scroll.viewport().width() - 4
        if 200 < room < pix.width():          # fit the width of the panel; never blow it up
            pix = pix.scaledToWidth(room, Qt.TransformationMode.SmoothTransformation)
        self.picture.setPixmap(pix)
        self.picture.setToolTip("Top-5 prediction:<br>" + "<br>".join(   # the full names the picture shortens
            f"{p['probability'] * 100:.1f}% {html.escape(str(p['name']))}" for p in e.prediction[:5]))
        top = e.prediction[0]
        self.message.setText(f"Predicted {top['name']} ({top['probability'] * 100:.1f}%)"
                             + (f"; completeness gap {e.completeness_gap * 100:.2f}%"
                                if e.completeness_gap is not None else ""))
        self.explained.emit(e)

    def _failed(self, text: str):
        self.message.setText(text)

    def _finished(self):
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.hide()
        self.cancel_button.setEnabled(False)

    def cancel(self, wait: bool = False) -> None:
        """Stop the running explanation (if any). Its thread ends on its own, away from the GUI thread (it may
        be loading the data set, or in a Grad-CAM that cannot stop halfway); `wait`: wait for it here."""
        job, self.job = self.job, None
        if job is None or not job.isRunning():
            return
        job.cancelled = True
        if wait:
            job.wait()
            return
        job.setParent(None)                   # the panel may go before it ends: never destroyed while running
        keep_until_finished(job)
        self._finished()
        self.message.setText("Cancelled.")

    def stop_all(self) -> None:
        """Stop every background job of the panel (the run loading, the explanation, the wrong samples, the
        Block tab) and wait for their threads: before the panel goes away. An answer still to come is dropped."""
        self.cancel(wait=True)
        self._explain_when_loaded = False
        for jobs in (self.loader, self.lists, self.block_view.jobs):
            jobs.shutdown(60_000)

    def closeEvent(self, event):
        self.stop_all()
        super().closeEvent(event)


def _open_run(run_dir, cancel) -> dict:
    """In a Job: a run's model (built, its weights read, tried on one made-up input: a model that is no
    classifier says so now) and what the panel shows of it before any validation sample is looked at."""
    from layerloom.runtime.explain_subject import load_subject
    try:
        subject = load_subject(run_dir)
    except OSError as exc:            # moved, deleted or rewritten while it was being read
        raise ExplainError(f"{run_dir} could not be read ({one_line(f'{type(exc).__name__}: {exc}', 160)}): was it "
                           "moved or deleted while it loaded? Train the graph again, or pick another run") from None
    x0 = subject.probe()                                # the data set loads later, in the wrong-sample job
    with torch.no_grad():
        class_scores(subject.model(x0))
    if cancel.is_set():
        raise Cancelled("cancelled")
    got = {"subject": subject, "image": x0.dim() == 4 and x0.is_floating_point(), "blocks": [], "default": None}
    if x0.dim() == 4:
        got["blocks"] = image_blocks(subject.model, x0)
        got["default"] = default_gradcam_block(subject.model, x0)
    try:
        got["filters"] = filter_grid(subject.model, scale=10)
    except ExplainError as exc:
        got["filters"] = str(exc)
    got["health"] = _health(run_dir)
    blocks = subject.doc.blocks          # the graph's blocks, not the steps inside them (rnn1_outputs)
    got["graph_blocks"] = [n.name for n in subject.model.graph.nodes
                           if n.name in blocks and blocks[n.name].kind not in ("Input", "Output")]
    return got


def _health(run_dir) -> tuple:
    """(the run's health strip as an RGB array, or a sentence saying why there is none; what a damaged health.csv
    left out, or None). A damaged file reads as its whole lines (runtime.health.read_health)."""
    table = read_health(run_dir)
    note = skipped_note(table)
    if not table["steps"]:
        return (f"This run's health.csv holds no line that can be read: {note}. The other tabs do not need it; train "
                "the graph again to record it anew." if note else
                "No training health recorded for this run (layerloom train and the app record it every 50 steps "
                "into health.csv)."), None
    return np.asarray(health_strip_image(table, HEALTH_STAT).convert("RGB")), note


def _wrong_samples(subject, cancel) -> tuple[list[dict], list[np.ndarray]]:
    """The first WRONG_SHOWN validation samples the model gets wrong and their pictures (in a Job)."""
    wrong = subject.wrong_predictions(WRONG_SHOWN, cancel=cancel)
    return wrong, [subject.sample(w["index"])[0][0].numpy() for w in wrong]


def _name(names, index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)
