"""The Problems list shows each message whole: what is wrong and, after it, what to do."""
from PySide6.QtCore import QRect, Qt

from layerloom.app import edits
from layerloom.presets import preset_path


def test_a_long_problem_wraps_onto_the_lines_it_needs(win, qtbot):
    win.resize(1000, 760)
    win.files.open_preset(preset_path("alexnet"))
    edits.set_param(win.session, "input", "shape", [3, 48, 48])
    win.session.flush()
    win.docks["problems"].show()
    win.docks["problems"].raise_()
    problems = win.problems
    qtbot.waitUntil(lambda: problems.tree.topLevelItemCount() == 1 and problems.tree.isVisible(), timeout=10_000)
    item = problems.tree.topLevelItem(0)
    message = item.text(1)
    assert message.endswith("Remove a pooling block upstream or use a larger input.")
    width = problems.tree.header().sectionSize(1)
    metrics = problems.tree.fontMetrics()
    assert metrics.horizontalAdvance(message) > width                     # too long for one line here
    needed = metrics.boundingRect(QRect(0, 0, width - 10, 10_000), Qt.TextFlag.TextWordWrap, message).height()
    qtbot.waitUntil(lambda: problems.tree.visualItemRect(item).height() >= needed, timeout=5000)
