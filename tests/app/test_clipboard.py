"""Cut, copy, paste and duplicate: internal wires kept, fresh ids, paste at the cursor, JSON on the clipboard."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

from layerloom.app import edits
from layerloom.app.window import MainWindow
from layerloom.graph.document import Edge
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path

from .helpers import merge_graph, move


def open_lenet(win):
    win.session.set_document(load_graph(preset_path("lenet5")))
    win.view.fit()


def select(win, *ids):
    win.scene.select_blocks(ids)


def key(win, k, mods=Qt.KeyboardModifier.ControlModifier):
    win.view.setFocus()
    QTest.keyClick(win.view, k, mods)


def test_copy_paste_keeps_inner_wires_with_fresh_ids_at_the_cursor(win):
    open_lenet(win)
    select(win, "conv2", "relu2", "pool2")
    key(win, Qt.Key.Key_C)
    text = QGuiApplication.clipboard().text()
    data = json.loads(text)
    assert [b["id"] for b in data["blocks"]] == ["conv2", "relu2", "pool2"]
    assert len(data["edges"]) == 2          # conv2→relu2, relu2→pool2; not pool1→conv2 nor pool2→flatten1

    vp = win.view.viewport()
    target = QPoint(vp.width() // 4, vp.height() * 2 // 3)
    move(win.view.viewport(), target)
    before = set(win.document.blocks)
    key(win, Qt.Key.Key_V)
    new = [b for b in win.document.blocks if b not in before]
    assert [win.document.blocks[b].kind for b in new] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert not set(new) & before
    assert {(e.src, e.dst) for e in win.document.edges if e.src in new or e.dst in new} == {
        (new[0], new[1]), (new[1], new[2])}
    assert win.document.blocks[new[0]].params == win.document.blocks["conv2"].params
    corner = win.view.mapToScene(target)
    first = win.document.blocks[new[0]].pos
    assert abs(first[0] - corner.x()) <= 10 and abs(first[1] - corner.y()) <= 10
    assert win.scene.selected_block_ids() == new
    assert win.undo_stack.undoText().startswith("Paste 3 blocks")
    key(win, Qt.Key.Key_V)                  # again, the mouse where it was: not on top of the first copy
    again = [b for b in win.document.blocks if b not in before and b not in new]
    assert win.document.blocks[again[0]].pos == (first[0] + 30, first[1] + 30)
    win.undo_stack.undo()
    win.undo_stack.undo()
    assert set(win.document.blocks) == before


def test_duplicate_and_cut(win):
    open_lenet(win)
    select(win, "fc2", "relu4")
    key(win, Qt.Key.Key_D)
    assert len(win.document.blocks) == 16
    dup = win.scene.selected_block_ids()
    assert [win.document.blocks[b].kind for b in dup] == ["Linear", "ReLU"]
    assert Edge(dup[0], dup[1]) in win.document.edges
    for copy_id, original in zip(dup, ("fc2", "relu4")):    # the copies sit clear of every original block
        rect = win.scene.blocks[copy_id].sceneBoundingRect()
        assert not any(rect.intersects(win.scene.blocks[b].sceneBoundingRect()) for b in win.scene.blocks
                       if b not in dup), copy_id
    key(win, Qt.Key.Key_X)
    assert len(win.document.blocks) == 14 and not set(dup) & set(win.document.blocks)
    assert win.undo_stack.undoText().startswith("Cut")
    move(win.view.viewport(), QPoint(100, 100))
    key(win, Qt.Key.Key_V)
    assert len(win.document.blocks) == 16


def test_paste_into_another_window(win, qtbot):
    open_lenet(win)
    select(win, *win.document.blocks)
    key(win, Qt.Key.Key_C)
    other = MainWindow(restore_settings=False)
    qtbot.addWidget(other)
    other.resize(1200, 800)
    other.show()
    other.editing.paste()
    assert len(other.document.blocks) == 14 and len(other.document.edges) == 13
    from layerloom.graph import analyze
    assert analyze(other.document).total_params == 61_706
    other.session.undo_stack.setClean()


def test_pasting_text_that_is_not_blocks_changes_nothing(win):
    QGuiApplication.clipboard().setText("hello, not a graph")
    win.editing.paste()
    assert not win.document.blocks
    assert "no Layerloom blocks: select blocks and copy them" in win.statusBar().currentMessage()
    QGuiApplication.clipboard().setText('{"format": "layerloom.graph", "version": 1, "blocks": [{"id": "x"}]}')
    win.editing.paste()
    assert not win.document.blocks and win.undo_stack.count() == 0
    message = win.statusBar().currentMessage()
    assert "does not hold usable Layerloom blocks" in message and message.endswith("Copy the blocks again.")
    QGuiApplication.clipboard().setText("[" * 100_000 + "]" * 100_000)     # deeper than Python's JSON parser goes
    win.editing.paste()
    assert not win.document.blocks and "no Layerloom blocks" in win.statusBar().currentMessage()


def test_copy_or_duplicate_with_nothing_selected_says_what_to_do(win):
    open_lenet(win)
    win.scene.clearSelection()
    key(win, Qt.Key.Key_D)
    assert win.statusBar().currentMessage().startswith("Select blocks to duplicate (click one")
    key(win, Qt.Key.Key_C)
    assert win.statusBar().currentMessage().startswith("Select blocks to copy (click one")
    assert len(win.document.blocks) == 14


def test_context_menu_offers_the_edit_actions(win):
    open_lenet(win)
    names = [a.objectName() for a in win.view.context_actions]
    assert {"cut", "copy", "paste", "duplicate", "delete"} <= set(names)


def test_a_copy_keeps_its_blocks_frozen_and_in_their_group(win):
    """A duplicate or a pasted copy of a frozen block is frozen too, and blocks of a group stay in it; pasted
    into a collapsed group, the group opens to show them (one undo step closes it again)."""
    win.session.set_document(merge_graph())
    edits.set_trainable(win.session, ["add"], False)
    win.view.fit()
    select(win, "add", "act")
    key(win, Qt.Key.Key_D)
    dup = win.scene.selected_block_ids()
    blocks = win.document.blocks
    assert [(blocks[b].kind, blocks[b].trainable, blocks[b].group) for b in dup] == [
        ("Add", False, "merge"), ("ReLU", True, "merge")]
    assert set(dup) <= set(win.scene.groups.items["merge"].members)
    key(win, Qt.Key.Key_C)
    edits.set_collapsed(win.session, ["merge"], True)
    key(win, Qt.Key.Key_V)
    pasted = win.scene.selected_block_ids()
    assert len(pasted) == 2 and "merge" not in win.document.collapsed
    assert all(win.scene.blocks[b].isVisible() for b in pasted)
    assert blocks[pasted[0]].trainable is False
    win.undo_stack.undo()
    assert win.document.collapsed == ["merge"] and not set(pasted) & set(win.document.blocks)


def test_the_program_ends_cleanly_after_a_copy(tmp_path):
    """Copied blocks stay on the clipboard after the program ends, and ending does not crash."""
    script = ("import sys\nfrom PySide6.QtWidgets import QApplication\napp = QApplication(sys.argv)\n"
              "from layerloom.app import clipboard\n"
              "clipboard.put({'format': 'layerloom.graph', 'version': 3, 'blocks': []})\n"
              "assert clipboard.get()['format'] == 'layerloom.graph'\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
