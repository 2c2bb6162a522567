"""The Lessons panel: pick a lesson, see its steps, the current one's text and hint, and a tick for
every step whose check passes on the open graph and the runs (Qt-free checks in runtime/lessons.py).

The window owns the context: it calls `evaluate(context)` when the graph changes, a run ends, or
the person does something a lesson asks for (`note_fact`), and opens a lesson's start graph when
`start_requested` (from the beginning) or `restart_requested` (the graph only, the steps done stay) fires.

A lesson counts only what happened since it started: the facts are forgotten when a lesson starts or another
lesson is picked, and the runs checked are those started since (`started_at`, given to the context as `since`).
A lesson started in an earlier session counts the runs started since this panel was made."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QScrollArea, QSizePolicy, QVBoxLayout, QWidget)

from layerloom.runtime.lessons import Lesson, LessonContext, LessonProgress

TICK, CURRENT, TODO = "✔", "▶", "○"


class LessonsPanel(QWidget):
    start_requested = Signal(object)     # the Lesson to start from its first step (its start graph opens)
    restart_requested = Signal(object)   # the Lesson whose start graph should open again, the steps done kept
    progress_changed = Signal(str, int)  # lesson id, steps done (for the window to remember)

    def __init__(self, lessons: list[Lesson], done: dict[str, int] | None = None, parent=None):
        super().__init__(parent)
        self.lessons = lessons
        self.progress = {l.id: LessonProgress(l, (done or {}).get(l.id, 0)) for l in lessons}
        self.facts: set[str] = set()
        self._context: LessonContext | None = None
        # Lessons checked against the open graph: those started here (the window calls mark_started once the
        # start graph is open) or in an earlier session. An unstarted lesson ticks nothing: LeNet-5's lesson,
        # which builds the network from an empty canvas, was "complete" on opening with the preset open.
        self.started = {lesson_id for lesson_id, done in (done or {}).items() if done > 0}
        # when each lesson started (time.time()): the run checks count only runs started since
        opened = time.time()
        self.started_at: dict[str, float] = {lesson_id: opened for lesson_id in self.started}

        self.choice = QComboBox(self)
        # a long lesson title is elided in a narrow dock rather than widening the panel past the dock
        self.choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.choice.setMinimumContentsLength(16)
        for i, lesson in enumerate(lessons, 1):
            self.choice.addItem(f"{i}. {lesson.title}", lesson.id)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.start = QPushButton("Start lesson", self)
        self.start.setToolTip("Open the graph this lesson starts from (your current graph stays in its file)")
        self.restart = QPushButton("Restart graph", self)
        self.restart.setToolTip("Open the lesson's starting graph again, for a step that asks you to start over")
        self.steps = QListWidget(self)
        self.steps.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.steps.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.title = QLabel(self)
        self.title.setStyleSheet("font-weight: 600")
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.hint_button = QPushButton("Show hint", self)
        self.hint_button.setCheckable(True)
        self.hint = QLabel(self)
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.hint.setVisible(False)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)

        buttons = QHBoxLayout()
        buttons.addWidget(self.start)
        buttons.addWidget(self.restart)
        buttons.addStretch(1)
        # in a scroll area: a dock shorter than the lesson scrolls it, where its parts were drawn over each other
        # (the step's title over the last steps of the list)
        self.body = QWidget()
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        layout = QVBoxLayout(self.body)
        layout.addWidget(self.choice)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.steps)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addWidget(self.hint_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.hint)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.scroll.setWidget(self.body)
        self.scroll.setMinimumWidth(self.body.minimumSizeHint().width()
                                    + self.scroll.verticalScrollBar().sizeHint().width())

        self.choice.currentIndexChanged.connect(self._lesson_changed)
        self.start.clicked.connect(lambda: self.start_requested.emit(self.lesson))
        self.restart.clicked.connect(lambda: self.restart_requested.emit(self.lesson))
        self.hint_button.toggled.connect(self._toggle_hint)
        self._show()

    @property
    def lesson(self) -> Lesson:
        return self.lessons[max(0, self.choice.currentIndex())]

    def select_lesson(self, lesson_id: str) -> None:
        index = self.choice.findData(lesson_id)
        if index >= 0:
            self.choice.setCurrentIndex(index)

    def mark_started(self, lesson_id: str, fresh: bool = True) -> None:
        """The lesson's start graph is open: from now on its steps are checked. `fresh` (Start lesson, Start again)
        begins it anew: back to its first step, with only what is done and trained from now on counting.
        Otherwise (Restart graph) the steps done, the facts and the runs since the lesson started stay."""
        self.started.add(lesson_id)
        if fresh or lesson_id not in self.started_at:
            self.started_at[lesson_id] = time.time()
        if fresh:
            self.facts.clear()
            if self._context is not None:
                self._context.facts = set()
            progress = self.progress[lesson_id]
            if progress.done:
                progress.reset()
                self.progress_changed.emit(lesson_id, 0)
        self._show()

    def note_fact(self, fact: str) -> None:
        """Something the person did that a lesson may ask for ("viewed_filters", "selected:fc1", ...). It counts
        for the lesson showing, until a lesson starts or another is picked."""
        if fact not in self.facts:
            self.facts.add(fact)
            if self._context is not None:
                self._context.facts = set(self.facts)
                self.evaluate(self._context)

    def evaluate(self, context: LessonContext) -> list[int]:
        """Re-check the current lesson against the graph and runs; returns the steps newly done."""
        context.facts = set(self.facts) | set(context.facts)
        context.since = self.started_at.get(self.lesson.id)
        self._context = context
        if self.lesson.id not in self.started:
            self._show()
            return []
        progress = self.progress[self.lesson.id]
        newly = progress.update(context)
        if newly:
            self.progress_changed.emit(self.lesson.id, progress.done)
        self._show()
        return newly

    def _lesson_changed(self, _index: int) -> None:
        self.facts.clear()                   # what was done for another lesson does not count for this one
        if self._context is not None:
            self._context.facts = set()
            self.evaluate(self._context)
        else:
            self._show()

    def _toggle_hint(self, on: bool) -> None:
        self.hint.setVisible(on)
        self.hint_button.setText("Hide hint" if on else "Show hint")

    def _show(self) -> None:
        lesson = self.lesson
        progress = self.progress[lesson.id]
        self.summary.setText(f"{lesson.summary}  (about {lesson.minutes} minutes)")
        self.restart.setVisible(bool(lesson.start.get("graph") or lesson.start.get("preset")))
        again = lesson.id in self.started and progress.done > 0
        self.start.setText("Start again" if again else "Start lesson")
        self.start.setToolTip("Begin the lesson anew from its first step: its starting graph opens (your current graph "
                              "stays in its file), and only what you do and train from now on counts" if again else
                              "Open the graph this lesson starts from (your current graph stays in its file)")
        self.steps.clear()
        for i, step in enumerate(lesson.steps):
            mark = TICK if i < progress.done else CURRENT if i == progress.done else TODO
            item = QListWidgetItem(f"{mark}  {i + 1}. {step.title}")
            if i < progress.done:
                item.setForeground(self.palette().placeholderText())
            self.steps.addItem(item)
        self.steps.setFixedHeight(self.steps.sizeHintForRow(0) * len(lesson.steps) + 2 * self.steps.frameWidth() + 4)
        step = progress.current
        if step is None:
            self.title.setText("Lesson complete")
            self.text.setText("Every step is done. Pick another lesson above, press Start again to do this one "
                              "anew, or keep experimenting.")
            self.hint_button.setVisible(False)
            self.hint.setVisible(False)
            self.status.setText("")
            return
        self.title.setText(f"Step {progress.done + 1} of {len(lesson.steps)}: {step.title}")
        self.text.setText(step.text)
        self.hint.setText(step.hint)
        self.hint_button.setVisible(True)
        self.hint.setVisible(self.hint_button.isChecked())
        if lesson.id not in self.started:
            self.status.setText("Press Start lesson to begin: it opens the graph this lesson starts from, and the "
                                "steps tick as you do them.")
        else:
            self.status.setText(f"Not yet: {progress.detail}" if progress.detail and self._context is not None else "")
        self.body.layout().activate()
