"""Starting the app from the command line (app/launch.py). `layerloom --screenshot OUT.png [FILE]` draws
the window without a display, so nobody can answer a dialog: every problem it can meet is said on stderr
before a window is made, with the exit status of a usage error, and nothing half-written is left. A graph
named on the command line that cannot be opened is said over the window, and a window closed before the
event loop starts ends the process."""
import os
import subprocess
import sys

import pytest

from layerloom.app.launch import launch, parse_args
from layerloom.presets import preset_path


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing.loom.json", "missing.loom.json: the file does not exist"),
    (lambda d: (d / "bad.loom.json").write_text("{garbage") and d / "bad.loom.json", "this is not valid JSON"),
    (lambda d: d, "this is a folder, not a graph file"),
])
def test_a_graph_that_cannot_be_opened_is_said_before_any_window(tmp_path, capsys, make, words):
    out = tmp_path / "shot.png"
    assert launch([str(make(tmp_path)), "--screenshot", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("layerloom: ") and words in err and "\n" not in err
    assert not out.exists()


@pytest.mark.parametrize("out, words", [
    ("{tmp}/afile/shot.png", "afile is a file, so no folder can be made inside it; choose another path"),
    ("{tmp}", "is a folder, not a file"),
    ("{tmp}/shot.txt", "give a file name ending in .png"),
])
def test_an_output_that_cannot_be_written_is_said_before_any_window(tmp_path, capsys, out, words):
    (tmp_path / "afile").write_text("x")
    assert launch(["--screenshot", out.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerloom: cannot write --screenshot ") and words in err


def test_the_image_goes_into_new_folders_whole(tmp_path, capsys):
    out = tmp_path / "new" / "folders" / "shot.png"
    assert launch(["--screenshot", str(out), "--size", "640x400", str(preset_path("mlp"))]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["shot.png"]       # no temporary file left


@pytest.mark.parametrize("size, words", [("abc", "'abc' is not a size: give WIDTHxHEIGHT"),
                                         ("10x10", "out of range: each side from 100 to 16,384"),
                                         ("800x", "not a size"), ("99999x800", "out of range")])
def test_a_size_that_is_not_one_is_a_usage_error(size, words, capsys):
    """It was read as 1600x1000 without a word."""
    with pytest.raises(SystemExit) as stop:
        parse_args(["--screenshot", "x.png", "--size", size])
    assert stop.value.code == 2 and words in capsys.readouterr().err
    assert parse_args(["--size", "1280×800"]).size == (1280, 800)


def test_a_missing_graph_does_not_leave_the_process_waiting(tmp_path):
    """A warning box offscreen waited for a click that could never come: the process never ended."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "layerloom.app.main", str(tmp_path / "typo.loom.json"),
                           "--screenshot", str(tmp_path / "shot.png")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2 and "typo.loom.json: the file does not exist" in proc.stderr


def test_a_block_to_select_that_is_not_there_is_named(tmp_path, capsys):
    """`--select` of a mistyped id drew the window with nothing selected, without a word."""
    out = tmp_path / "shot.png"
    assert launch(["--screenshot", str(out), "--select", "conv9", str(preset_path("lenet5"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerloom: --select conv9: the graph has no block of that id; its blocks are input, conv1")
    assert not out.exists()


def test_a_graph_that_cannot_be_opened_is_said_over_the_window(tmp_path, monkeypatch):
    """The box stood alone on the screen, before the window it belongs to had appeared."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from .helpers import close_without_questions
    seen = []

    def warning(parent, title, text, *args, **kwargs):
        seen.append((parent is not None and parent.isVisible(), text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    monkeypatch.setattr(QApplication, "exec", lambda *args: 0)       # the window as it starts, then back
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    assert launch([str(tmp_path / "typo.loom.json")]) == 0
    [window] = [w for w in QApplication.topLevelWidgets() if type(w).__name__ == "MainWindow" and w.isVisible()]
    close_without_questions(window)
    window.close()
    assert seen == [(True, "typo.loom.json could not be opened.\n\n"
                           f"{tmp_path / 'typo.loom.json'}: the file does not exist")]


def test_a_screenshot_leaves_the_saved_window_layout_alone(tmp_path, qtbot, capsys):
    """Closing the offscreen window saved its size: the next start opened at the screenshot's 640x400."""
    from layerloom.app import settings
    from layerloom.app.window import MainWindow

    from .helpers import close_without_questions
    first = MainWindow(restore_settings=False)
    qtbot.addWidget(first, before_close_func=close_without_questions)
    first.resize(900, 600)
    first.close()
    saved = [bytes(v) for v in settings.window_layout()]
    assert launch(["--screenshot", str(tmp_path / "shot.png"), "--size", "640x400"]) == 0
    assert [bytes(v) for v in settings.window_layout()] == saved


def test_a_window_closed_before_the_event_loop_starts_ends_the_process(tmp_path):
    """Closed in the events handled before the loop (at once, as a script or a quick click may), the
    window was gone and the process waited for ever."""
    script = tmp_path / "close_at_once.py"
    script.write_text(
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from layerloom.app import window\n"
        "shown = window.MainWindow.showEvent\n"
        "def show(self, event):\n"
        "    shown(self, event)\n"
        "    QTimer.singleShot(0, self.close)\n"
        "window.MainWindow.showEvent = show\n"
        "from layerloom.app.launch import launch\n"
        "sys.exit(launch([]))\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
