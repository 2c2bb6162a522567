"""Fixtures for the editor's tests: isolated settings, no modal dialogs, no leftover threads."""
from __future__ import annotations

import faulthandler
import os
import sys
import traceback

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LAYERLOOM_NO_ERROR_DIALOG"] = "1"

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QStandardPaths, QThread  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402

# The window's later parts imported up front, like analysis (tests/conftest.py): a window built by a
# test builds them at once rather than after a background import (tests/app/test_startup.py covers that).
from layerloom.app.later_parts import LATER_MODULES  # noqa: E402

for _name in LATER_MODULES:
    __import__(_name)


HANG_SECONDS = 300


@pytest.fixture(autouse=True)
def windows_deleted():
    """Delete what the test's widgets left to deferred deletion, last of all its teardown. pytest-qt
    closes each window a test registers and calls deleteLater(), but Qt runs a deferred deletion posted
    outside any event loop only when asked: without this every window of every test stayed alive, by
    the hundreds, closed but with all its plots and menus, and every later palette change, font change
    or application-wide event filter walked them all."""
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(autouse=True)
def no_hang(request):
    """A test stuck for minutes (a modal dialog nobody answers, a thread waiting on itself) ends the run
    with the stack of where it hangs, on the terminal (pytest's captured stderr would lose it)."""
    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key
        out = request.config.stash[fault_handler_stderr_fd_key]
    except (ImportError, KeyError):
        out = sys.stderr
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=out)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def isolated_settings(qapp, tmp_path, monkeypatch):
    """QSettings and QStandardPaths (recovery files) point into this test's tmp folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    QStandardPaths.setTestModeEnabled(True)
    QCoreApplication.setOrganizationName("LayerloomTest")
    QCoreApplication.setApplicationName("LayerloomTest")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    # runs go to this test's folder too: the default, ./runs, would hold whatever earlier runs left there
    QSettings().setValue("training/runs_dir", str(tmp_path / "runs"))
    yield tmp_path


@pytest.fixture(autouse=True)
def no_dangling_qthreads(monkeypatch):
    """Fail a test that leaves a QThread running (a worker nobody stopped)."""
    started = []
    original = QThread.start

    def start(self, *args, **kwargs):
        started.append((self, "".join(traceback.format_stack(limit=6)[:-1])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield
    running = []
    for thread, where in started:
        try:
            if thread.isRunning():
                running.append(where)
        except RuntimeError:   # already deleted on the C++ side: not running
            pass
    assert not running, "a test left QThreads running, started at:\n" + "\n".join(running)


class Dialogs:
    """Stands in for QMessageBox and QFileDialog: records what was asked and answers from a queue."""

    def __init__(self):
        self.shown: list[tuple[str, str, str]] = []   # (kind, title, text)
        self.answers: list = []                     # for question(): a StandardButton each
        self.open_path = ""
        self.save_path = ""

    def _record(self, kind):
        def show(parent, title, text, *args, **kwargs):
            self.shown.append((kind, title, text))
            if kind == "question":
                return self.answers.pop(0) if self.answers else QMessageBox.StandardButton.Cancel
            return QMessageBox.StandardButton.Ok
        return show

    def texts(self, kind: str | None = None) -> list[str]:
        return [t for k, _, t in self.shown if kind is None or k == kind]


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    d = Dialogs()
    for kind in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(d._record(kind)))
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda *a, **k: d.shown.append(("about", "", ""))))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (d.open_path, "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (d.save_path, "")))
    return d


@pytest.fixture
def quick_double_click():
    """Two clicks on one spot make a double click only within 150 ms instead of the platform's 400: a test
    that waits out the interval between its single clicks (app/canvas/view.py reads it as it goes) waits
    less. Not for a test whose second click must come within the interval on a loaded machine."""
    from PySide6.QtGui import QGuiApplication
    hints = QGuiApplication.styleHints()
    before = hints.mouseDoubleClickInterval()
    hints.setMouseDoubleClickInterval(150)
    yield
    hints.setMouseDoubleClickInterval(before)


@pytest.fixture
def win(qtbot):
    """An editor window with an empty graph, shown at a fixed size, closed without questions; settled as
    the app is a moment after start: every part built (the window builds them one per turn of its event
    loop once analysis has loaded; tests/app/test_startup.py covers the moments before)."""
    from layerloom.app.window import MainWindow

    from .helpers import close_without_questions
    w = MainWindow(restore_settings=False)
    qtbot.addWidget(w, before_close_func=close_without_questions)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.later_built, timeout=60_000)
    yield w
    w.session.undo_stack.setClean()


@pytest.fixture
def ui(win, tmp_path, qtbot):
    """The window's training side with LeNet-5 open, the training panel showing and its data set loaded."""
    from layerloom.presets import preset_path
    t = win.training
    t.set_runs_folder(tmp_path / "runs")
    win.files.open_preset(preset_path("lenet5"))
    t.dock.show()
    t.dock.raise_()
    qtbot.waitUntil(lambda: t.ready, timeout=20_000)
    yield t
    t.shutdown(5000)
    win.session.undo_stack.setClean()


@pytest.fixture
def trained(win, tmp_path):
    """LeNet-5 open in the window and a short run of it (30 steps) in the window's runs folder."""
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.trainer import Trainer
    runs = tmp_path / "runs"
    win.training.set_runs_folder(runs)
    t = Trainer(load_graph(preset_path("lenet5")), {"epochs": 1, "max_steps": 30}, None, runs_base=runs)
    assert t.run() is not None
    win.files.open_preset(preset_path("lenet5"))
    return t.run_dir
