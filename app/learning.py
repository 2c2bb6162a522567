"""The learning part of the window: Help ▸ Lessons, the look inside a computation, and Step mode.

It owns three panels (rows of app/docks.py) and the facts lessons ask about ("selected:fc1",
"overlaid_runs", "queried_neighbours", ...), which it gathers from the window's signals. Work that
touches a trained model (tracing the probe sample, a training step, the loss surface) runs in a
`background.Job` thread; the panels show the result when it arrives.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer

from layerloom.graph.analysis import analyze
from layerloom.runtime.lessons import LessonContext, builtin_lessons, load_run_records
from layerloom.runtime.runs import RUN_FILES

from . import background, settings
from .exporting import runs_of
from .panels.inside import InsideView
from .panels.inside_controls import InsideControls
from .panels.lessons import LessonsPanel
from .panels.step_panel import StepPanel
from .training.controller import ACTIVE


def _sentence_or_named(exc: Exception) -> str:
    """A failure as the panels say it: a message that is already a sentence as it is, else with its type."""
    text = str(exc)
    return text if text.endswith(".") else f"{type(exc).__name__}: {exc}"


INSIDE_HEIGHT = 420          # the Inside panel shown shorter than this opens this tall (as Explain does)
LESSON_RUN_FILES = RUN_FILES + ("metrics.csv",)      # what runtime/lessons.py reads of a run


def runs_stamp(base: Path) -> tuple:
    """The size, time and inode of every file the lessons read of each run under `base`: while it stays the
    same, what they read stays the same too."""
    stamp = []
    try:
        folders = sorted(Path(base).iterdir())
    except OSError:                  # no runs folder yet, or one that cannot be listed
        return (str(base),)
    for folder in folders:
        for name in LESSON_RUN_FILES:
            try:
                s = (folder / name).stat()
            except OSError:
                continue
            stamp.append((folder.name, name, s.st_size, s.st_mtime_ns, s.st_ino))
    return (str(base), tuple(stamp))


class Learning(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.lessons = LessonsPanel(builtin_lessons(), settings.lesson_progress())
        self.inside_view = InsideView()
        self.inside = InsideControls(self.inside_view, self)
        self.step = StepPanel(self)
        self.jobs: list[background.Job] = []
        self._runs_read: tuple | None = None     # (runs_stamp, the run records read then)
        self._closed = False
        self._inside_stale = False    # the Inside panel, out of sight, lists the graph or runs as they were
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(400)
        self._check_timer.timeout.connect(self.check_lesson)
        self.lessons.start_requested.connect(self.start_lesson)
        self.lessons.restart_requested.connect(lambda lesson: self.start_lesson(lesson, fresh=False))
        self.lessons.progress_changed.connect(settings.set_lesson_progress)

    def connect(self) -> None:
        """Called by the window once every part exists."""
        win = self.win
        win.session.analysed.connect(lambda _r: self._check_timer.start())
        win.selected_block_changed.connect(self._selected)
        win.training.runs.tree.itemSelectionChanged.connect(self._runs_selected)
        win.extras.embeddings.neighbours.model().rowsInserted.connect(
            lambda *_: self.lessons.note_fact("queried_neighbours"))
        win.session.document_replaced.connect(self._document_replaced)
        win.docks["inside"].visibilityChanged.connect(lambda shown: shown and self._inside_stale and
                                                      self._refresh_inside())
        win.training.run.state_changed.connect(self._run_state_changed)
        win.training.run.event.connect(self._run_event)
        win.training.maps.pixel_clicked.connect(self.look_at_pixel)
        explain = win.explaining.panel
        explain.filters_seen.connect(lambda: self.lessons.note_fact("viewed_filters"))
        win.training.maps.maps_shown.connect(lambda _block: self.lessons.note_fact("viewed_feature_maps"))

    # -- panels ---------------------------------------------------------------------------------
    def _show_dock(self, name: str) -> None:
        dock = self.win.docks[name]
        dock.show()
        dock.raise_()

    def show_lessons(self) -> None:
        self._show_dock("lessons")
        self.check_lesson()

    def _document_replaced(self, doc) -> None:
        self.step.reset()
        if self.win.docks["inside"].isVisible():       # its blocks and run become the new graph's at once
            self.inside.graph_replaced(doc, runs_of(doc, self.win.training.runs_base))
        else:                                          # when it is next shown (reading the runs costs)
            self.inside.graph_replaced(doc, [])
            self._inside_stale = True

    def _run_event(self, event: dict) -> None:
        """The trainer's `started`: the run got past its checks and trains, so Step mode's steps were of the
        weights before it. A run refused at its start (its setup failed) never sends it."""
        if event.get("type") == "started":
            self.step.weights_changed()

    def _run_state_changed(self, new, old) -> None:
        """A run ended: if it had started training, Step mode's steps were of the weights before it; and an
        ended run may be the graph's newest trained run, the one Inside takes values apart in."""
        if old in ACTIVE and new not in ACTIVE and self.win.training.run.live.started is not None:
            self.step.weights_changed()
        if old in ACTIVE and new not in ACTIVE:
            if self.win.docks["inside"].isVisible():
                self._refresh_inside()
            else:
                self._inside_stale = True

    def _refresh_inside(self) -> None:
        doc = self.win.document
        self._inside_stale = False
        self.inside.refresh(doc, runs_of(doc, self.win.training.runs_base))

    def show_inside(self) -> None:
        self._inside_stale = False              # refreshed just below
        self._show_dock("inside")
        dock = self.win.docks["inside"]
        if not dock.isFloating() and dock.height() < INSIDE_HEIGHT:    # room for the arithmetic's lines
            self.win.resizeDocks([dock], [INSIDE_HEIGHT], Qt.Orientation.Vertical)
        self._refresh_inside()
        block = self.win.selected_block()
        if block:
            self.inside.follow(block)

    def look_at_pixel(self, block: str, channel: int, row: int, col: int, sample: int) -> None:
        """A click on a feature map's pixel: the arithmetic of that value, in the Inside panel."""
        self.show_inside()
        self.inside.sample.setValue(sample)
        self.inside.set_position(block, channel, row, col)
        if self.inside.show_button.isEnabled():
            self.inside.show_value()

    def show_step(self) -> None:
        self._show_dock("step")

    def start_lesson(self, lesson, fresh: bool = True) -> None:
        """Open the lesson's start graph; `fresh` (Start lesson, Start again) begins the lesson anew, otherwise
        (Restart graph) its steps done stay."""
        if not self.win.files.open_document(lesson.start_graph(), "start the lesson"):
            return
        self.lessons.mark_started(lesson.id, fresh)
        self.win.session.message.emit(f"Lesson: {lesson.title}. The steps are in the Lessons panel.")
        self.check_lesson()

    def check_lesson(self) -> None:
        """Re-check the lesson on show against the graph and the runs (after each edit while it shows). The
        runs' files are read again only when they changed: reading every run's graph and metrics after each
        edit stood the window still for 0.15 s with 150 runs in the folder."""
        if not self.win.docks["lessons"].isVisible():
            return
        base = self.win.training.runs_base
        stamp = runs_stamp(base)
        if self._runs_read is None or self._runs_read[0] != stamp:
            self._runs_read = (stamp, load_run_records(base))
        self.lessons.evaluate(LessonContext(self.win.document, analyze(self.win.document), list(self._runs_read[1])))

    def note_fact(self, fact: str) -> None:
        self.lessons.note_fact(fact)

    def _selected(self, block_id) -> None:
        if block_id:
            self.lessons.note_fact(f"selected:{block_id}")
            self.inside.follow(block_id)

    def _runs_selected(self) -> None:
        if len(self.win.training.runs.tree.selectedItems()) >= 2:
            self.lessons.note_fact("overlaid_runs")

    # -- background work --------------------------------------------------------------------------
    def run_job(self, fn, done, failed) -> background.Job:
        """Run `fn(cancelled)` off the GUI thread (`cancelled()` turns True when it should stop early);
        then `done(result)`, or `failed(message)`, in the GUI thread."""
        job = background.Job(lambda: fn(lambda: job.cancelled), name="layerloom-learning",
                             describe=_sentence_or_named, parent=self)

        def ended():
            if job in self.jobs:
                self.jobs.remove(job)
            if not self._closed:             # a job that outlived the window has no panel to tell
                failed(job.error) if job.error else done(job.result)
        job.finished.connect(ended)
        self.jobs.append(job)
        job.start()
        return job

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel running jobs and wait for them (the window calls this when it closes); one that does
        not end in time is kept referenced until it does, never destroyed while running."""
        self._closed = True
        for job in list(self.jobs):
            job.cancelled = True
        for job in list(self.jobs):
            if not job.wait(timeout_ms):
                job.setParent(None)
                background.keep_until_finished(job)
