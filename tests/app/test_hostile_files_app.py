"""Hostile files opened in the window, through File ▸ Open and by dropping them on the canvas: each ends
in one message box that names the problem (no traceback), the open graph stays as it was with its
unsaved edit and its undo history, and the window goes on working. A graph whose name carries code,
terminal escapes and bidi marks opens, but its name never reaches the title raw nor the code as code."""
from __future__ import annotations

import ast
import json
import os

import pytest
from PySide6.QtWidgets import QMessageBox

from layerloom.app import edits
from layerloom.graph.fileformat import graph_to_dict
from layerloom.presets import preset_path

from .helpers import drop_file

Button = QMessageBox.StandardButton
LENET = json.loads(preset_path("lenet5").read_text(encoding="utf-8"))


def _variant(**changes) -> str:
    data = json.loads(json.dumps(LENET))
    for key, value in changes.items():
        data[key] = value
    return json.dumps(data)


def _huge_number() -> str:
    text = json.dumps(LENET)
    return text.replace('"pos": [0, 0]', '"pos": [' + "9" * 400 + ", 0]", 1)


def _with_blocks(edit) -> str:
    data = json.loads(json.dumps(LENET))
    edit(data["blocks"])
    return json.dumps(data)


HOSTILE = {
    "truncated.loom.json": lambda: json.dumps(LENET)[:700],
    "huge_number.loom.json": _huge_number,
    "huge_int_param.loom.json": lambda: json.dumps(LENET).replace('"out_features": 120',
                                                                  '"out_features": ' + "9" * 400, 1),
    "lone_surrogate.loom.json": lambda: json.dumps(LENET).replace('"LeNet-5"', '"LeNet\\ud800"', 1),
    "unhashable_kind.loom.json": lambda: _with_blocks(lambda blocks: blocks[1].__setitem__("kind", {})),
    "binary.loom.json": lambda: os.urandom(4096),
    "empty.loom.json": lambda: b"",
    "not_a_graph.loom.json": lambda: json.dumps([1, 2, 3]),
}


def write_hostile(folder) -> list:
    paths = []
    for name, make in HOSTILE.items():
        path = folder / name
        content = make()
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        paths.append(path)
    fifo = folder / "fifo.loom.json"
    os.mkfifo(fifo)
    paths.append(fifo)
    return paths


@pytest.fixture
def edited(win):
    """The MLP preset open with one unsaved edit: what must survive every failed open."""
    win.files.open_preset(preset_path("mlp"))
    edits.set_param(win.session, next(b for b in win.document.blocks if b.startswith("fc")), "out_features", 77)
    assert win.session.modified
    return graph_to_dict(win.document), win.session.path, win.undo_stack.count()


@pytest.mark.parametrize("how", ["menu", "drop"])
def test_hostile_files_end_in_one_message_and_lose_nothing(win, edited, dialogs, tmp_path, capsys, how):
    before, path_before, undo_count = edited
    for path in write_hostile(tmp_path):
        shown = len(dialogs.shown)
        dialogs.answers = [Button.Discard]               # "save the changes first?": no (the file is bad anyway)
        if how == "menu":
            dialogs.open_path = str(path)
            win.actions_by_name["open"].trigger()
        else:
            drop_file(win, path)
        new = dialogs.shown[shown:]
        warnings = [(title, text) for kind, title, text in new if kind == "warning"]
        assert len(warnings) == 1, (path.name, new)
        title, text = warnings[0]
        assert path.name in text and "Traceback" not in text and len(text) < 1200, text
        assert "\x1b" not in text and "\ud800" not in text
        # the open graph, its unsaved edit and its undo history are all still there
        assert graph_to_dict(win.document) == before and win.session.path == path_before, path.name
        assert win.session.modified and win.undo_stack.count() == undo_count
        assert win.isVisible()
    assert "Traceback" not in capsys.readouterr().err
    win.session.undo()                                   # the window still works: the edit undoes
    assert graph_to_dict(win.document) != before


def test_a_hostile_name_opens_but_stays_text(win, dialogs, tmp_path):
    name = 'Evil\x1b[2J\u202e"""\nimport os; os.system("touch PWNED")  # \u2066'
    path = tmp_path / "evil.loom.json"
    path.write_text(_variant(name=name), encoding="utf-8")
    dialogs.open_path = str(path)
    win.actions_by_name["open"].trigger()
    assert win.document.name == name and not dialogs.texts("warning")
    title = win.windowTitle()
    for raw in ("\x1b", "\u202e", "\u2066", "\n"):
        assert raw not in title, repr(title)
    assert "Evil" in title
    from layerloom.graph import generated_code
    tree = ast.parse(generated_code(win.document))
    assert tree.body[0].value.value.startswith(name)                    # the name: one docstring literal
    assert "os" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not any(isinstance(n, ast.Import) and n.names[0].name == "os" for n in ast.walk(tree))
    assert not (tmp_path / "PWNED").exists()
