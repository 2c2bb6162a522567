"""A collapsed group's card is selected as its blocks are: Select All, Copy, Delete and a rubber band take
the blocks hidden inside it too (before, they were left out: a copy of "everything" lost them)."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from layerloom.app import clipboard, edits
from layerloom.graph.fileformat import graph_to_dict

from .helpers import drag, merge_graph, view_point

CTRL = Qt.KeyboardModifier.ControlModifier


def key(win, k, mods=CTRL):
    win.view.setFocus()
    QTest.keyClick(win.view, k, mods)


def collapsed_merge(win):
    doc = merge_graph()
    win.session.set_document(doc)
    assert edits.set_collapsed(win.session, ["merge"], True)
    win.view.fit()
    return doc


def test_select_all_copy_and_delete_take_the_blocks_inside_a_collapsed_card(win):
    doc = collapsed_merge(win)
    before = graph_to_dict(doc)
    key(win, Qt.Key.Key_A)
    card = win.scene.groups.items["merge"]
    assert card.isSelected()
    assert win.scene.selected_block_ids() == list(doc.blocks)
    key(win, Qt.Key.Key_C)
    copied = clipboard.get()
    assert [b["id"] for b in copied["blocks"]] == list(doc.blocks) and len(copied["edges"]) == len(doc.edges)
    key(win, Qt.Key.Key_Delete, Qt.KeyboardModifier.NoModifier)
    assert not win.document.blocks and not win.document.edges
    win.session.undo()
    assert graph_to_dict(win.document) == before


def test_a_rubber_band_around_a_card_selects_the_blocks_inside(win):
    collapsed_merge(win)
    card = win.scene.groups.items["merge"].card()
    start = view_point(win.view, card.topLeft() - QPointF(12, 12))
    end = view_point(win.view, card.bottomRight() + QPointF(12, 12))
    drag(win.view.viewport(), start, end)
    assert win.scene.selected_block_ids() == ["add", "act"]
    assert edits.set_collapsed(win.session, ["merge"], False)     # expanded: the card is no longer selected
    assert not win.scene.groups.items["merge"].isSelected() and win.scene.selected_block_ids() == []
    drag(win.view.viewport(), QPoint(2, 2), QPoint(4, 4))          # a band on empty canvas selects nothing
    assert win.scene.selected_block_ids() == []


def test_a_drag_moves_a_selected_card_with_the_blocks(win):
    doc = collapsed_merge(win)
    key(win, Qt.Key.Key_A)
    before = {b: doc.blocks[b].pos for b in doc.blocks}
    card = win.scene.groups.items["merge"].card()
    start = view_point(win.view, win.scene.blocks["input"].sceneBoundingRect().center())
    drag(win.view.viewport(), start, start + QPoint(round(100 * win.view.zoom), 0))
    moved = {b: (doc.blocks[b].pos[0] - before[b][0], doc.blocks[b].pos[1] - before[b][1]) for b in doc.blocks}
    assert len(set(moved.values())) == 1 and next(iter(moved.values()))[0] > 50     # add and act too
    assert win.scene.groups.items["merge"].card().left() - card.left() == next(iter(moved.values()))[0]
    assert win.undo_stack.command(win.undo_stack.count() - 1).text() == f"Move {len(doc.blocks)} blocks"
