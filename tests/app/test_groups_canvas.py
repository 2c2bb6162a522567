"""Imported modules on the canvas, at every depth (`layer1`, `layer1.0`, `layer2.0.downsample`): a click on
a group's header collapses it to one card (its blocks hidden, the wires that cross it ending on the
card), another click expands it in place with the groups inside as they were. Collapsing is an undoable
edit of the document, saved in the file."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QContextMenuEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.graph.fileformat import graph_from_dict, graph_to_dict
from layerloom.graph.importers import import_source

from .helpers import block_point, view_point

LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture(scope="module")
def resnet18_data():
    """torchvision's resnet18 imported once (at 3×32×32: the groups do not depend on the size)."""
    return graph_to_dict(import_source("torchvision:resnet18", (3, 32, 32), fidelity=False).doc)


@pytest.fixture
def resnet(win, resnet18_data):
    doc = graph_from_dict(resnet18_data)
    win.session.set_document(doc)
    win.view.set_zoom(1.0)
    return doc


def click(win, scene_pos: QPointF) -> None:
    """A single click in the middle of the view (after the double-click interval: two clicks on one spot
    in quick succession are a double click, which toggles a group once)."""
    QTest.qWait(QApplication.doubleClickInterval() + 20)
    win.view.centerOn(scene_pos)
    QTest.mouseClick(win.view.viewport(), LEFT, NO_MOD, view_point(win.view, scene_pos))


def click_header(win, name: str) -> None:
    item = win.scene.groups.items[name]
    click(win, (item.card() if item.collapsed else item.header()).center())


def inside(doc, name: str) -> list[str]:
    return [b for b, blk in doc.blocks.items() if blk.group == name or blk.group.startswith(name + ".")]


def shown(win, ids) -> set[str]:
    return {b for b in ids if win.scene.blocks[b].isVisible()}


def wire_from(win, src: str, dst: str):
    return next(w for e, w in win.scene.wires.items() if e.src == src and e.dst == dst)


def test_a_group_collapses_and_expands_with_clicks(win, resnet, quick_double_click):
    doc = resnet
    groups = win.scene.groups.items
    assert {"layer1", "layer1.0", "layer1.1", "layer2.0.downsample", "layer4.1"} <= set(groups)
    assert len(groups) == 4 + 8 + 3
    layer1 = groups["layer1"]
    members = inside(doc, "layer1")
    assert sorted(layer1.members) == sorted(members) and len(members) == 14
    click_header(win, "layer1")
    assert layer1.collapsed and doc.collapsed == ["layer1"]
    assert not shown(win, members) and win.scene.blocks["maxpool"].isVisible()
    assert not groups["layer1.0"].isVisible() and not groups["layer1.1"].isVisible()   # inner cards hide too
    assert layer1.ins == ["64×8×8"] and layer1.outs == ["64×8×8"]
    assert layer1.summary.startswith("14 blocks · 147.97K params")
    wire_in = wire_from(win, "maxpool", "layer1_0_conv1")
    assert wire_in.isVisible() and wire_in._b == layer1.anchor(False, 0)
    assert not wire_from(win, "layer1_0_conv1", "layer1_0_bn1").isVisible()
    assert doc.blocks[members[0]].group == "layer1.0"            # the blocks keep their module paths
    assert win.session.modified and win.session.undo_stack.undoText() == "Collapse layer1"
    click(win, layer1.card().center())
    assert not layer1.collapsed and shown(win, members) == set(members) and doc.collapsed == []
    assert wire_in._b == win.scene.blocks[wire_in.edge.dst].port_pos(False, 0)


def test_nested_groups_keep_their_state_inside_a_collapsed_group(win, resnet, quick_double_click):
    doc, groups = resnet, win.scene.groups.items
    l10, l11 = inside(doc, "layer1.0"), inside(doc, "layer1.1")
    click_header(win, "layer1.0")
    assert groups["layer1.0"].collapsed and not shown(win, l10) and shown(win, l11) == set(l11)
    card = groups["layer1.0"]
    assert card.ins == ["64×8×8"] and card.outs == ["64×8×8"]
    assert card.summary.startswith("7 blocks · 73.98K params")
    # The wires into and out of layer1.0 end on the card's sides; the one inside is hidden.
    assert wire_from(win, "maxpool", "layer1_0_conv1")._b == card.anchor(False)
    assert wire_from(win, "maxpool", "layer1_0_add")._b == card.anchor(False)     # the skip connection
    out = wire_from(win, "layer1_0_relu_2", "layer1_1_conv1")
    assert out.isVisible() and out._a == card.anchor(True)
    assert out._b == win.scene.blocks["layer1_1_conv1"].port_pos(False, 0)
    # The outer group frames the inner card, and its header sits above the card, not on it.
    layer1 = groups["layer1"]
    assert layer1.frame.contains(card.card())
    assert layer1.header().bottom() < card.card().top()

    click_header(win, "layer1")
    assert doc.collapsed == ["layer1", "layer1.0"]
    assert not shown(win, l10 + l11) and not card.isVisible() and layer1.isVisible()
    assert wire_from(win, "maxpool", "layer1_0_conv1")._b == layer1.anchor(False, 0)
    assert wire_from(win, "layer1_1_relu_2", "layer2_0_conv1")._a == layer1.anchor(True)

    click_header(win, "layer1")                          # expanding layer1: layer1.0 is still a card
    assert doc.collapsed == ["layer1.0"]
    assert card.isVisible() and card.collapsed and not shown(win, l10) and shown(win, l11) == set(l11)
    assert wire_from(win, "maxpool", "layer1_0_conv1")._b == card.anchor(False)

    # A group two levels down (layer2.0.downsample) collapses inside its expanded parents.
    click_header(win, "layer2.0.downsample")
    down = inside(doc, "layer2.0.downsample")
    assert len(down) == 2 and not shown(win, down)
    assert win.scene.blocks["layer2_0_conv1"].isVisible()
    assert wire_from(win, "layer2_0_downsample_1", "layer2_0_add")._a == groups["layer2.0.downsample"].anchor(True)


def test_collapsed_groups_go_through_undo_redo_save_and_load(win, resnet, tmp_path, qtbot, quick_double_click):
    doc = resnet
    for name in ("layer1.0", "layer1", "layer1", "layer3"):
        click_header(win, name)
    assert doc.collapsed == ["layer1.0", "layer3"]
    view = win.view
    view.setFocus()
    steps = [["layer1.0", "layer3"], ["layer1.0"], ["layer1", "layer1.0"], ["layer1.0"], []]
    for want in steps[1:]:                                # Ctrl+Z, step by step
        QTest.keyClick(view, Qt.Key.Key_Z, CTRL)
        assert doc.collapsed == want
        hidden = {b for b in doc.blocks if not win.scene.blocks[b].isVisible()}
        assert hidden == {b for name in want for b in inside(doc, name)}
    for want in steps[-2::-1]:                            # and back with Ctrl+Shift+Z
        QTest.keyClick(view, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
        assert doc.collapsed == want
    assert win.scene.groups.items["layer3"].collapsed and not win.scene.groups.items["layer1"].collapsed

    path = tmp_path / "resnet18.loom.json"
    win.session.set_path(path)
    QTest.keyClick(view, Qt.Key.Key_S, CTRL)
    data = json.loads(path.read_text())
    assert data["collapsed"] == ["layer1.0", "layer3"] and data["version"] == 3
    assert not win.session.modified

    assert win.files.open(str(path), ask=False)
    again = win.session.document
    assert again is not doc and again.collapsed == ["layer1.0", "layer3"]
    groups = win.scene.groups.items
    assert groups["layer1.0"].collapsed and groups["layer3"].collapsed and not groups["layer1"].collapsed
    assert not shown(win, inside(again, "layer1.0")) and shown(win, inside(again, "layer1.1"))
    assert not win.session.modified

    # A version 2 file (before groups could be saved collapsed) opens with every group expanded.
    data.pop("collapsed")
    data["version"] = 2
    old = tmp_path / "old.loom.json"
    old.write_text(json.dumps(data))
    assert win.files.open(str(old), ask=False)
    assert win.session.document.collapsed == [] and shown(win, win.session.document.blocks) == set(win.scene.blocks)


def double_click(view, pos) -> None:
    """What the window system delivers for a double click: press, release, press, double click, release."""
    QTest.mousePress(view.viewport(), LEFT, NO_MOD, pos)
    QTest.mouseRelease(view.viewport(), LEFT, NO_MOD, pos)
    QTest.mousePress(view.viewport(), LEFT, NO_MOD, pos)
    QApplication.sendEvent(view.viewport(), QMouseEvent(QEvent.Type.MouseButtonDblClick, QPointF(pos),
                                                        QPointF(view.viewport().mapToGlobal(pos)), LEFT, LEFT, NO_MOD))
    QTest.mouseRelease(view.viewport(), LEFT, NO_MOD, pos)


def test_a_double_click_toggles_once(win, resnet, qtbot):
    """The header moves away under the second click: that click neither expands it again nor opens Add Block."""
    header = win.scene.groups.items["layer2"].header().center()
    win.view.centerOn(header)
    double_click(win.view, view_point(win.view, header))
    assert resnet.collapsed == ["layer2"] and not win.view.quick_add.isVisible()
    qtbot.wait(QApplication.doubleClickInterval() + 50)
    card = win.scene.groups.items["layer2"].card().center()
    double_click(win.view, view_point(win.view, card))
    assert resnet.collapsed == [] and not win.view.quick_add.isVisible()
    qtbot.wait(QApplication.doubleClickInterval() + 50)
    QTest.mouseDClick(win.view.viewport(), LEFT, NO_MOD, view_point(win.view, header))   # the double click alone
    assert resnet.collapsed == ["layer2"] and not win.view.quick_add.isVisible()


def right_click(win, monkeypatch, pos, choose: str) -> list[str]:
    seen = []

    def pick(menu, *_args):
        seen.extend(a.text().replace("&", "") for a in menu.actions() if a.text())
        next(a for a in menu.actions() if a.text().replace("&", "") == choose).trigger()
    monkeypatch.setattr(win.view, "run_menu", pick)
    QApplication.sendEvent(win.view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                                  win.view.viewport().mapToGlobal(pos)))
    return seen


def test_the_context_menu_and_the_view_menu_collapse_groups(win, resnet, monkeypatch):
    doc = resnet
    win.view.centerOn(win.scene.blocks["layer2_0_bn2"].pos())
    seen = right_click(win, monkeypatch, block_point(win, "layer2_0_bn2"), "Collapse layer2.0")
    assert seen[-4:] == ["Collapse layer2.0", "Collapse layer2", "Collapse All Groups", "Expand All Groups"]
    assert doc.collapsed == ["layer2.0"]
    card = win.scene.groups.items["layer2.0"].card().center()
    seen = right_click(win, monkeypatch, view_point(win.view, card), "Expand layer2.0")
    assert "Collapse the groups inside layer2.0" in seen
    assert doc.collapsed == []
    header = win.scene.groups.items["layer2"].header().center()
    win.view.centerOn(header)
    right_click(win, monkeypatch, view_point(win.view, header), "Collapse the groups inside layer2")
    assert doc.collapsed == ["layer2.0", "layer2.0.downsample", "layer2.1"]
    assert win.session.undo_stack.undoText() == "Collapse the groups inside layer2"

    win.actions_by_name["collapse_groups"].trigger()
    assert doc.collapsed == sorted(win.scene.groups.items) and len(doc.collapsed) == 15
    assert {b for b in doc.blocks if win.scene.blocks[b].isVisible()} == \
        {"input", "conv1", "bn1", "relu", "maxpool", "avgpool", "flatten", "fc", "output"}
    assert {n for n, g in win.scene.groups.items.items() if g.isVisible()} == {"layer1", "layer2", "layer3", "layer4"}
    win.actions_by_name["expand_groups"].trigger()
    assert doc.collapsed == [] and all(item.isVisible() for item in win.scene.blocks.values())
    win.session.undo()
    assert len(doc.collapsed) == 15


def test_a_card_shows_the_problems_it_hides_and_going_to_one_opens_it(win, resnet, quick_double_click):
    from layerloom.app import edits
    doc = resnet
    assert edits.set_param(win.session, "layer1_1_conv2", "in_channels", 32)      # 64 channels come in
    click_header(win, "layer1.1")
    click_header(win, "layer1")
    win.session.flush()
    layer1 = win.scene.groups.items["layer1"]
    assert layer1.problems[0] >= 1 and "layer1_1_conv2" in layer1.toolTip()
    assert win.scene.groups.items["layer2"].problems == (0, 0)
    win.focus_block("layer1_1_conv2")                   # as the Problems panel does
    assert doc.collapsed == [] and win.scene.blocks["layer1_1_conv2"].isVisible()
    assert win.scene.selected_block_ids() == ["layer1_1_conv2"]
    assert win.session.undo_stack.undoText() == "Show layer1_1_conv2"


def test_a_small_group_gets_a_card_no_wider_than_the_column(win, quick_double_click):
    from layerloom.graph.document import GraphDocument
    from layerloom.graph.layout import apply_layout, auto_layout
    doc = GraphDocument("small")
    doc.add_block("Input", {"shape": [8]}, block_id="input")
    doc.add_block("Linear", {"in_features": 8, "out_features": 4}, block_id="fc1", group="head")
    doc.add_block("ReLU", {}, block_id="act")
    for a, b in (("input", "fc1"), ("fc1", "act")):
        doc.connect(a, b)
    apply_layout(doc, auto_layout(doc))
    win.session.set_document(doc)
    win.view.set_zoom(1.0)
    click_header(win, "head")
    card = win.scene.groups.items["head"].card()
    assert card.left() == win.scene.blocks["fc1"].pos().x()
    assert card.right() < win.scene.blocks["act"].pos().x()      # the next block stays uncovered
    assert win.scene.blocks["act"].isVisible() and not win.scene.blocks["fc1"].isVisible()


def test_a_card_has_one_port_for_each_output_wired_across_it(win, quick_double_click):
    """Two outside blocks feed a collapsed group: two input ports down the card's left side, each wire on
    its own; the output that leaves it is one port on the right."""
    from .helpers import merge_graph
    win.session.set_document(merge_graph())
    win.view.set_zoom(1.0)
    click_header(win, "merge")
    card = win.scene.groups.items["merge"]
    assert card.in_ports == [("left", 0), ("right", 0)] and card.out_ports == [("act", 0)]
    assert card.ins == ["8"] and card.outs == ["8"]
    ends = [wire_from(win, src, "add")._b for src in ("left", "right")]
    assert ends == [card.anchor(False, 0), card.anchor(False, 1)] and ends[0].y() < ends[1].y()
    assert all(card.card().top() < p.y() < card.card().bottom() and p.x() == card.card().left() for p in ends)
    assert wire_from(win, "act", "fc")._a == card.anchor(True, 0) and card.anchor(True, 0).x() == card.card().right()


def test_dragging_a_card_or_a_header_moves_the_whole_group(win, resnet, quick_double_click):
    from .helpers import drag
    doc = resnet
    click_header(win, "layer1.0")
    before = {b: tuple(doc.blocks[b].pos) for b in doc.blocks}
    card = win.scene.groups.items["layer1.0"]
    start = card.card().center()
    win.view.centerOn(start)
    QTest.qWait(QApplication.doubleClickInterval() + 20)
    drag(win.view.viewport(), view_point(win.view, start), view_point(win.view, start + QPointF(0, 300)))
    inside_10 = inside(doc, "layer1.0")
    assert all(doc.blocks[b].pos == (before[b][0], before[b][1] + 300) for b in inside_10)
    assert all(doc.blocks[b].pos == before[b] for b in doc.blocks if b not in inside_10)
    assert card.collapsed and card.card().top() == before["layer1_0_conv1"][1] + 300
    assert win.session.undo_stack.undoText() == "Move layer1.0"
    win.session.undo()
    assert {b: tuple(doc.blocks[b].pos) for b in doc.blocks} == before and card.card().top() == before["layer1_0_conv1"][1]
    assert wire_from(win, "layer1_0_relu_2", "layer1_1_conv1")._a == card.anchor(True, 0)     # the wires followed
    header = win.scene.groups.items["layer2"].header().center()      # an expanded group, by its header
    win.view.centerOn(header)
    drag(win.view.viewport(), view_point(win.view, header), view_point(win.view, header + QPointF(100, 0)))
    assert doc.collapsed == ["layer1.0"]
    assert all(doc.blocks[b].pos == (before[b][0] + 100, before[b][1]) for b in inside(doc, "layer2"))
    into = wire_from(win, "layer1_1_relu_2", "layer2_0_conv1")
    assert into._b == win.scene.blocks["layer2_0_conv1"].port_pos(False, 0)
    win.session.undo()
    assert into._b == win.scene.blocks["layer2_0_conv1"].port_pos(False, 0)
    assert win.scene.blocks["layer2_0_conv1"].pos().x() == before["layer2_0_conv1"][0]


def test_groups_fold_while_the_network_is_locked_for_training(win, resnet, quick_double_click):
    """Folding changes only the view of the network: it works (and undoes) while a run holds the graph."""
    win.session.set_locked(resnet, "a training run is using this graph")
    click_header(win, "layer3")
    assert resnet.collapsed == ["layer3"]
    assert win.session.undo() and resnet.collapsed == []
    win.session.set_locked(resnet, None)


def test_a_deleted_group_comes_back_with_undo_as_it_was(win, resnet, qtbot, quick_double_click):
    from layerloom.app import edits
    doc = resnet
    click_header(win, "layer1.0")
    layer1 = inside(doc, "layer1")
    assert edits.delete(win.session, layer1)                        # one step, many changes
    assert "layer1" not in win.scene.groups.items and "layer1.0" not in win.scene.groups.items
    win.session.undo()
    groups = win.scene.groups.items
    assert groups["layer1.0"].collapsed and not groups["layer1"].collapsed
    assert not shown(win, inside(doc, "layer1.0")) and shown(win, inside(doc, "layer1.1")) == set(inside(doc, "layer1.1"))
    assert wire_from(win, "maxpool", "layer1_0_conv1")._b == groups["layer1.0"].anchor(False, 0)
    # A change made to the document directly (no edit, so no analysis) reaches the groups once the event loop runs.
    doc.set_block_attr("conv1", "group", "stem")
    qtbot.waitUntil(lambda: "stem" in win.scene.groups.items, timeout=2000)
