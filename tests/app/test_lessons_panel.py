"""The Lessons panel: real clicks pick and start lessons; ticks follow the graph and what was done."""
from PySide6.QtCore import QPoint, QRect, Qt

from layerloom.graph import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.lessons import LessonContext, builtin_lessons

from layerloom.app.panels.lessons import CURRENT, TICK, TODO, LessonsPanel


def _rows(panel):
    return [panel.steps.item(i).text() for i in range(panel.steps.count())]


def test_start_hint_and_ticks(qtbot, tmp_path):
    lessons = builtin_lessons()
    panel = LessonsPanel(lessons)
    qtbot.addWidget(panel)
    panel.resize(360, 560)
    panel.show()
    started = []
    panel.start_requested.connect(started.append)
    # pick the AlexNet lesson with the keyboard, as a person would in the combo box
    panel.choice.setFocus()
    qtbot.keyClick(panel.choice, Qt.Key.Key_Down)
    assert panel.lesson.id == "alexnet-fix"
    qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
    assert started == [panel.lesson]
    doc = started[0].start_graph()
    panel.mark_started(panel.lesson.id)      # the window, once the start graph is open
    assert _rows(panel)[0].startswith(CURRENT) and _rows(panel)[1].startswith(TODO)
    assert not panel.hint.isVisible()
    qtbot.mouseClick(panel.hint_button, Qt.MouseButton.LeftButton)
    assert panel.hint.isVisible() and panel.hint.text() == "It is the first Linear block, fc1."
    saved = []
    panel.progress_changed.connect(lambda lesson_id, done: saved.append((lesson_id, done)))
    assert panel.evaluate(LessonContext.build(doc, tmp_path)) == []
    assert panel.status.text() == "Not yet: not done yet in the app"
    panel.note_fact("selected:fc1")          # the window reports that fc1 was selected
    assert _rows(panel)[0].startswith(TICK) and _rows(panel)[1].startswith(CURRENT)
    assert saved == [("alexnet-fix", 1)]
    assert panel.title.text().startswith("Step 2 of 3")
    qtbot.wait(20)
    panel.grab().save(str(tmp_path / "lessons.png"))


def test_progress_is_restored_and_a_finished_lesson_says_so(qtbot, tmp_path):
    lessons = builtin_lessons()
    panel = LessonsPanel(lessons, done={"lenet5": 5})
    qtbot.addWidget(panel)
    assert panel.lesson.id == "lenet5"
    assert all(row.startswith(TICK) for row in _rows(panel))
    assert panel.title.text() == "Lesson complete"
    panel.select_lesson("what-convolutions-learn")
    panel.mark_started("what-convolutions-learn")
    panel.evaluate(LessonContext.build(load_graph(preset_path("lenet5")), tmp_path))
    assert panel.status.text().startswith("Not yet: train a run")


def test_a_lesson_not_started_ticks_nothing_on_the_graph_that_is_open(qtbot, tmp_path):
    """With the LeNet-5 preset open (as `make run` starts), Help ▸ Lessons showed lesson 1, "build LeNet-5
    from an empty canvas", four steps done before it was started, and saved that progress."""
    panel = LessonsPanel(builtin_lessons())
    qtbot.addWidget(panel)
    saved = []
    panel.progress_changed.connect(lambda lesson_id, done: saved.append((lesson_id, done)))
    assert panel.lesson.id == "lenet5"
    assert panel.evaluate(LessonContext.build(load_graph(preset_path("lenet5")), tmp_path)) == []
    assert not any(row.startswith(TICK) for row in _rows(panel)) and saved == []
    assert panel.status.text().startswith("Press Start lesson to begin")
    panel.mark_started("lenet5")             # the window opened the lesson's start: an empty canvas
    panel.evaluate(LessonContext.build(load_graph(preset_path("lenet5")), tmp_path))
    assert saved == [("lenet5", 4)]          # from here on the steps follow the graph


def test_a_short_dock_scrolls_the_lesson_instead_of_drawing_its_parts_over_each_other(qtbot, tmp_path):
    """At 1280×800 the Lessons dock (under the Training dock's tabs, over Feature maps) was shorter than the
    lesson: the step's title was drawn over the last steps of the list ("5. Train it")."""
    panel = LessonsPanel(builtin_lessons())
    qtbot.addWidget(panel)
    panel.resize(380, 300)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.wait(20)
    parts = [w for w in (panel.choice, panel.summary, panel.start, panel.steps, panel.title, panel.text,
                         panel.hint_button, panel.status) if w.isVisible()]
    boxes = [QRect(w.mapTo(panel, QPoint(0, 0)), w.size()) for w in parts]
    for i, (a, box) in enumerate(zip(parts, boxes)):
        for b, other in zip(parts[i + 1:], boxes[i + 1:]):
            assert not box.intersects(other), (a, b)
    bar = panel.scroll.verticalScrollBar()
    assert bar.maximum() > 0                                     # the rest is a scroll away
    bar.setValue(bar.maximum())
    qtbot.wait(20)
    bottom = panel.status.mapTo(panel, panel.status.rect().bottomLeft()).y()
    assert bottom <= panel.height()
    panel.grab().save(str(tmp_path / "short-lessons.png"))


def test_a_fact_from_before_the_lesson_started_does_not_tick_it(qtbot, tmp_path):
    """fc1 clicked in another graph, then the AlexNet lesson started: its step 1 ("select fc1") was ticked."""
    panel = LessonsPanel(builtin_lessons())
    qtbot.addWidget(panel)
    panel.show()
    panel.select_lesson("alexnet-fix")
    panel.note_fact("selected:fc1")                         # before the lesson started
    qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
    panel.mark_started("alexnet-fix")                        # the window, once the start graph is open
    doc = panel.lesson.start_graph()
    assert panel.evaluate(LessonContext.build(doc, tmp_path)) == []
    assert panel.progress["alexnet-fix"].done == 0
    panel.note_fact("selected:fc1")                          # now, in the lesson
    assert panel.progress["alexnet-fix"].done == 1
    # picking another lesson forgets what was done for this one
    panel.select_lesson("what-convolutions-learn")
    panel.note_fact("viewed_filters")
    panel.select_lesson("alexnet-fix")
    panel.select_lesson("what-convolutions-learn")
    assert "viewed_filters" not in panel.facts


def test_a_finished_lesson_can_be_started_again(qtbot, tmp_path):
    panel = LessonsPanel(builtin_lessons(), done={"alexnet-fix": 3})
    qtbot.addWidget(panel)
    panel.resize(380, 600)
    panel.show()
    panel.select_lesson("alexnet-fix")
    assert panel.title.text() == "Lesson complete" and "Start again" in panel.text.text()
    assert panel.start.text() == "Start again"
    saved, started, restarted = [], [], []
    panel.progress_changed.connect(lambda lesson_id, done: saved.append((lesson_id, done)))
    panel.start_requested.connect(started.append)
    panel.restart_requested.connect(restarted.append)
    qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
    assert started == [panel.lesson] and restarted == []
    panel.mark_started("alexnet-fix")                        # the window, once the start graph is open
    assert saved == [("alexnet-fix", 0)] and panel.progress["alexnet-fix"].done == 0
    assert _rows(panel)[0].startswith(CURRENT) and panel.title.text().startswith("Step 1 of 3")
    assert panel.start.text() == "Start lesson"
    panel.evaluate(LessonContext.build(panel.lesson.start_graph(), tmp_path))
    panel.note_fact("selected:fc1")
    assert panel.progress["alexnet-fix"].done == 1 and panel.start.text() == "Start again"
    # Restart graph opens the graph again and keeps the steps done
    qtbot.mouseClick(panel.restart, Qt.MouseButton.LeftButton)
    assert restarted == [panel.lesson] and len(started) == 1
    panel.mark_started("alexnet-fix", fresh=False)
    assert panel.progress["alexnet-fix"].done == 1
