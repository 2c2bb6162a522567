"""A settings file edited by hand, or spoilt, holds values of the wrong kind: the window still opens,
with the default layout, no recent files that are not paths, and runs where a new start keeps them."""
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from layerloom.app import settings

from .helpers import close_without_questions

SPOILT = [
    {"window/geometry": "garbage", "window/state": 12345},
    {"window/geometry": 7, "window/state": "@ByteArray(nothing)"},
    {"window/geometry": ["a", "b"], "window/state": b"\x00\x00\x00\xff\x00\x00\x00\x00\xfd\x00\x00\x00\x03"},
]


@pytest.mark.parametrize("values", SPOILT)
def test_the_window_opens_with_a_spoilt_layout(values, qtbot):
    """Qt's restoreGeometry refuses text with a TypeError: `layerloom` ended in a traceback at start."""
    from layerloom.app.window import MainWindow
    for key, value in values.items():
        QSettings().setValue(key, value)
    w = MainWindow(restore_settings=True)
    qtbot.addWidget(w, before_close_func=close_without_questions)
    w.show()
    qtbot.waitExposed(w)
    w.close()
    geometry, state = settings.window_layout()          # the close saved a real layout over the spoilt one
    assert bytes(geometry) and bytes(state)
    assert all(settings.saved_state_has(d.objectName()) for d in w.docks.values())


@pytest.mark.parametrize("value, paths", [
    (5, []), (b"\x00\x01", []), (["/a.loom.json", 3, "", "  ", "/b.loom.json"], ["/a.loom.json", "/b.loom.json"]),
    ("/only.loom.json", ["/only.loom.json"]), ([f"/{n}.loom.json" for n in range(30)], None),
])
def test_recent_files_are_paths_only(value, paths):
    QSettings().setValue(settings.RECENT_FILES, value)
    got = settings.recent_files()
    assert got == (paths if paths is not None else [f"/{n}.loom.json" for n in range(settings.MAX_RECENT)])
    settings.add_recent_file("/new.loom.json")
    assert settings.recent_files()[0] == str(Path("/new.loom.json").resolve())


@pytest.mark.parametrize("value", ["", "   ", 0, b"runs"])
def test_a_runs_folder_that_is_not_a_path_falls_back_to_the_default(value):
    QSettings().setValue(settings.RUNS_DIR, value)
    assert settings.runs_dir() == Path.cwd() / "runs"
