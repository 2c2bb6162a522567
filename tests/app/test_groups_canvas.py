"""Imported modules on the canvas: a click on a group's header collapses it to one card (its blocks hidden,
the wires that cross it ending on the card) and another click expands it in place."""
from __future__ import annotations

from PySide6.QtCore import Qt

from layerloom.graph.importers import import_source

from .helpers import view_point

LEFT = Qt.MouseButton.LeftButton


def test_a_group_collapses_and_expands_with_clicks(win, qtbot):
    doc = import_source("torchvision:resnet18", (3, 32, 32), fidelity=False).doc
    win.session.set_document(doc)
    groups = win.scene.groups.items
    assert sorted(groups) == ["layer1", "layer2", "layer3", "layer4"]
    layer1 = groups["layer1"]
    members = [b for b, blk in doc.blocks.items() if blk.group.split(".")[0] == "layer1"]
    assert sorted(layer1.members) == sorted(members) and len(members) == 14
    win.view.set_zoom(1.0)
    win.view.centerOn(layer1.header().center())
    qtbot.mouseClick(win.view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, view_point(win.view, layer1.header().center()))
    assert layer1.collapsed
    assert all(not win.scene.blocks[b].isVisible() for b in members)
    assert win.scene.blocks["maxpool"].isVisible()
    assert layer1.ins == ["64×8×8"] and layer1.outs == ["64×8×8"]
    assert layer1.summary.startswith("14 blocks · 147.97K params")
    wire_in = next(w for e, w in win.scene.wires.items() if e.src == "maxpool")
    assert wire_in.isVisible() and wire_in._b == layer1.anchor(False)
    inner = next(w for e, w in win.scene.wires.items() if e.src in members and e.dst in members)
    assert not inner.isVisible()
    assert doc.blocks[members[0]].group == "layer1.0"            # the document is untouched
    assert not win.session.modified
    qtbot.mouseClick(win.view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, view_point(win.view, layer1.card().center()))
    assert not layer1.collapsed and all(win.scene.blocks[b].isVisible() for b in members)
    assert wire_in._b == win.scene.blocks[wire_in.edge.dst].port_pos(False, 0)
