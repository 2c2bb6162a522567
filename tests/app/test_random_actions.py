"""Any action, in any order, from the moment the window opens: while analysis and the panels load,
during a run, with a dialog open. Whatever a person presses, nothing raises (pytest-qt fails the test
on an exception in any slot), nothing hangs, and the window ends built, analysed and able to close.

Sequences are drawn by hypothesis, derandomized; LAYERLOOM_LONG=1 draws many more."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from layerloom.app import menus
from layerloom.presets import preset_path

from .helpers import close_without_questions

# Every action but the ones that ask for a file (tests/app/test_files.py and the import tests drive
# those) and Quit, which each sequence ends with.
ASKS_FOR_A_FILE = {"open", "save_as", "import_model", "init_from"}
NAMES = sorted(a.name for a in menus.ACTIONS if a.name not in ASKS_FOR_A_FILE | {"quit"})
EXAMPLES = 40 if os.environ.get("LAYERLOOM_LONG") else 3

steps = st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 600)), min_size=4, max_size=14)


def _spin(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _dismiss() -> None:
    """What a person does with a dialog an action opened: closes it (Escape)."""
    dialog = QApplication.activeModalWidget()
    if dialog is not None:
        dialog.reject() if hasattr(dialog, "reject") else dialog.close()


@given(steps)
@settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_actions_from_the_first_moment_leave_a_working_window(qtbot, steps):
    from layerloom.app.window import MainWindow
    dismisser = QTimer()
    dismisser.timeout.connect(_dismiss)
    dismisser.start(60)
    win = MainWindow(restore_settings=False)
    qtbot.addWidget(win, before_close_func=close_without_questions)
    win.files.open_preset(preset_path("lenet5"))
    win.resize(1280, 800)
    win.show()
    pressed = []
    for name, wait_ms in steps:             # from before the first paint until after every part is built
        action = win.actions_by_name[name]
        if action.isEnabled():
            pressed.append(name)
            action.trigger()
        _spin(wait_ms)
    qtbot.waitUntil(lambda: win.later_built, timeout=60_000)
    run = win.training.run
    if run.active:                            # started by ▶ Train (or waiting for its data): stopped
        win.training.stop()
        qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=10_000)
    dismisser.stop()
    # the window still edits and analyses: the graph as it is now (undone, redone, cut...) has its numbers
    result = win.session.flush()
    assert result is not None and len(result.blocks) == len(win.document.blocks), pressed
    win.session.undo_stack.setClean()
    assert win.close(), pressed                  # closes, stopping whatever runs (a hang: the no_hang fixture)
