"""The trainable switch: a click in the Inspector freezes a block (one undoable step), the canvas marks it,
and the file keeps it."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from layerloom.graph.fileformat import graph_to_dict

from .test_inspector import click_block, open_lenet


def test_clicking_trainable_freezes_the_block_and_undo_brings_it_back(win):
    open_lenet(win)
    click_block(win, "conv1")
    box = win.inspector.trainable_box
    assert box.isVisible() and box.isChecked()
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(8, box.height() // 2))
    assert win.document.blocks["conv1"].trainable is False
    assert not box.isChecked()
    assert win.scene.blocks["conv1"].look.frozen
    assert "Frozen" in win.scene.blocks["conv1"].toolTip()
    assert win.undo_stack.undoText() == "Freeze conv1"
    saved = {b["id"]: b for b in graph_to_dict(win.document)["blocks"]}
    assert saved["conv1"]["trainable"] is False and "trainable" not in saved["conv2"]
    win.undo_stack.undo()
    assert win.document.blocks["conv1"].trainable is True
    assert not win.scene.blocks["conv1"].look.frozen
    assert box.isChecked()
    win.undo_stack.redo()
    assert not win.document.blocks["conv1"].trainable and not box.isChecked()


def test_the_switch_is_hidden_for_a_block_without_weights(win):
    open_lenet(win)
    click_block(win, "relu1")
    assert not win.inspector.trainable_box.isVisible()


def test_a_frozen_block_renders_with_its_padlock(win):
    open_lenet(win)
    win.document.set_block_attr("conv2", "trainable", False)
    win.session.flush()
    win.resize(1200, 800)
    win.show()
    win.view.fit()
    item = win.scene.blocks["conv2"]
    shot = win.view.viewport().grab(win.view.mapFromScene(item.sceneBoundingRect()).boundingRect().adjusted(-30, -30, 30, 30))
    assert not shot.isNull()
    assert item.look.frozen and not win.scene.blocks["conv1"].look.frozen
