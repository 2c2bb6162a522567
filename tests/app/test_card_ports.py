"""Wiring to a collapsed group's card with real mouse drags: a wire from one of its output ports starts at
the inner output it stands for; a wire into one of its input ports feeds the group from that output
instead of the one it had (every wire that carried the old one in, in one undoable step); a wire that
would close a cycle is refused, and no port lights up for it."""
from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.app import edits
from layerloom.graph import analyze
from layerloom.graph.document import Edge, GraphDocument

from .helpers import drag, merge_graph, move, port_point, view_point


@pytest.fixture
def merged(win, quick_double_click):
    doc = merge_graph()
    win.session.set_document(doc)
    win.view.set_zoom(1.0)
    assert edits.set_collapsed(win.session, ["merge"], True)
    card = win.scene.groups.items["merge"]
    win.view.centerOn(card.card().center())
    QTest.qWait(QApplication.doubleClickInterval() + 20)      # no press below reads as a double click
    return doc, card


def card_port(card, is_output: bool, slot: int):
    return next(p for p in card.ports if p.is_output == is_output and p.slot == slot)


def card_point(win, card, is_output: bool, slot: int):
    return view_point(win.view, card_port(card, is_output, slot).scenePos())


def test_a_card_has_a_port_item_on_each_of_its_anchors_shown_only_while_collapsed(win, merged):
    doc, card = merged
    assert [(p.is_output, p.slot, p.source) for p in card.ports] == \
        [(False, 0, ("left", 0)), (False, 1, ("right", 0)), (True, 0, ("act", 0))]
    assert all(p.scenePos() == card.anchor(p.is_output, p.slot) and p.isVisible() for p in card.ports)
    assert win.scene.port_at(card.anchor(True, 0)) is card_port(card, True, 0)     # what a press there finds
    edits.set_collapsed(win.session, ["merge"], False)
    assert card.ports and not any(p.isVisible() for p in card.ports)   # expanded: the blocks' own ports


def test_a_wire_dragged_from_a_cards_output_starts_at_the_inner_output(win, merged):
    doc, card = merged
    drag(win.view.viewport(), card_point(win, card, True, 0), port_point(win, "head", False))
    assert Edge("act", "head") in doc.edges
    assert win.session.undo_stack.undoText() == "Connect act → head"
    assert [p.source for p in card.ports if p.is_output] == [("act", 0)]       # the same output: one port
    assert win.scene.wires[Edge("act", "head")]._a == card.anchor(True, 0)     # drawn from the card
    win.session.undo()
    assert Edge("act", "head") not in doc.edges


def test_a_wire_dropped_on_a_cards_input_feeds_the_group_from_that_output(win, merged):
    doc, card = merged
    before = list(doc.edges)
    drag(win.view.viewport(), port_point(win, "other", True), card_point(win, card, False, 0))
    assert Edge("other", "add") in doc.edges and Edge("left", "add") not in doc.edges
    assert Edge("right", "add", 0, 1) in doc.edges                                # the other input is kept
    assert win.session.undo_stack.undoText() == "Rewire merge from left to other"
    assert card.in_ports == [("other", 0), ("right", 0)]              # the port keeps its place on the card
    assert {p.source for p in card.ports if not p.is_output} == {("other", 0), ("right", 0)}
    win.session.undo()
    assert set(doc.edges) == set(before) and card.in_ports == [("left", 0), ("right", 0)]


def test_a_wire_dragged_from_a_cards_input_to_an_output_feeds_the_group_too(win, merged):
    doc, card = merged
    drag(win.view.viewport(), card_point(win, card, False, 1), port_point(win, "other", True))
    assert Edge("other", "add", 0, 1) in doc.edges and Edge("right", "add", 0, 1) not in doc.edges
    assert Edge("left", "add") in doc.edges
    assert win.session.undo_stack.undoText() == "Rewire merge from right to other"


def test_a_wire_that_would_close_a_cycle_lights_no_card_port_and_changes_nothing(win, merged):
    doc, card = merged
    before, steps = list(doc.edges), win.session.undo_stack.count()
    start, end = port_point(win, "fc", True), card_point(win, card, False, 0)    # fc is fed by the group
    QTest.mousePress(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    move(win.view.viewport(), end, Qt.MouseButton.LeftButton)
    lit = {(p.is_output, p.slot): p.highlight for p in card.ports}
    head_lit = win.scene.blocks["head"].in_ports[0].highlight
    QTest.mouseRelease(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    assert lit == {(False, 0): 0, (False, 1): 0, (True, 0): 0} and head_lit == 1
    assert doc.edges == before and win.session.undo_stack.count() == steps


def test_feeding_a_group_is_refused_with_a_reason_from_inside_it_or_round_a_cycle(win, merged):
    doc, card = merged
    said = []
    win.session.message.connect(said.append)
    assert not edits.feed_group(win.session, "merge", ("left", 0), ("act", 0))
    assert not edits.feed_group(win.session, "merge", ("left", 0), ("fc", 0))
    assert not edits.feed_group(win.session, "merge", ("other", 0), ("input", 0))    # nothing of other goes in
    assert said == ["Cannot connect: act is inside merge.",
                    "Cannot connect: wiring fc into add would make a cycle (add already feeds fc).",
                    "Cannot connect: nothing from other goes into merge."]


def test_the_fed_group_analyses_as_the_same_graph_built_by_hand(win, merged):
    doc, card = merged
    drag(win.view.viewport(), port_point(win, "other", True), card_point(win, card, False, 0))
    by_hand = merge_graph()
    by_hand.disconnect(Edge("left", "add"))
    by_hand.connect("other", "add")
    ours, theirs = analyze(doc), analyze(by_hand)
    assert {b: r.output_shape for b, r in ours.blocks.items()} == {b: r.output_shape for b, r in theirs.blocks.items()}
    assert set(doc.edges) == set(by_hand.edges) and ours.total_params == theirs.total_params


# -- the edit on random graphs --------------------------------------------------------------------

@st.composite
def dags_with_a_group(draw):
    """A random chain-and-branches DAG of ReLUs over one Input; a random run of blocks forms group g."""
    n = draw(st.integers(4, 9))
    doc = GraphDocument("random")
    doc.add_block("Input", {"shape": [4]}, block_id="b0")
    for i in range(1, n):
        doc.add_block("ReLU", {}, block_id=f"b{i}")
        doc.connect(f"b{draw(st.integers(0, i - 1))}", f"b{i}")
    lo = draw(st.integers(1, n - 1))
    hi = draw(st.integers(lo, n - 1))
    for i in range(lo, hi + 1):
        doc.blocks[f"b{i}"].group = "g"
    return doc, draw(st.integers(0, n - 1)), draw(st.integers(0, 50))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=dags_with_a_group())
def test_feeding_a_group_rewires_exactly_its_wires_or_refuses(qapp, case):
    from layerloom.app.session import Session
    from layerloom.graph.groups import members
    doc, new_src, pick = case
    session = Session()
    session.set_document(doc)
    inside = set(members(doc)["g"])
    feeds = sorted({(e.src, e.src_port) for e in doc.edges if e.dst in inside and e.src not in inside})
    if not feeds:
        return
    old = feeds[pick % len(feeds)]
    before = list(doc.edges)
    moved = [e for e in before if (e.src, e.src_port) == old and e.dst in inside]
    done = edits.feed_group(session, "g", old, (f"b{new_src}", 0))
    reachable = edits.downstream(doc, f"b{new_src}", reverse=True)          # what feeds the new source
    cycle = any(e.dst in reachable for e in moved)
    if f"b{new_src}" in inside or cycle:
        assert not done and doc.edges == before
        return
    assert done
    expected = [e for e in before if e not in moved] + [Edge(f"b{new_src}", e.dst, 0, e.dst_port) for e in moved]
    assert set(doc.edges) == set(expected) and len(doc.edges) == len(before)
    assert nx.is_directed_acyclic_graph(doc.to_networkx())
    if (f"b{new_src}", 0) != old:                  # else nothing changed, and there is no step to undo
        assert session.undo_stack.undoText() == f"Rewire g from {old[0]} to b{new_src}"
        session.undo()
    assert set(doc.edges) == set(before)


def test_a_wire_dropped_on_a_cards_body_feeds_its_first_input_that_fits(win, merged):
    """As a wire dropped on a block goes to its first free input."""
    doc, card = merged
    drag(win.view.viewport(), port_point(win, "other", True), view_point(win.view, card.card().center()))
    assert Edge("other", "add") in doc.edges and Edge("left", "add") not in doc.edges
    assert win.session.undo_stack.undoText() == "Rewire merge from left to other"
    steps = win.session.undo_stack.count()
    drag(win.view.viewport(), port_point(win, "fc", True), view_point(win.view, card.card().center()))
    assert win.session.undo_stack.count() == steps                    # fc is fed by the group: no input fits


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=dags_with_a_group(), start=st.integers(0, 50))
def test_the_card_ports_a_drag_lights_are_exactly_those_the_edit_takes(win, case, start):
    """For a wire dragged from any block's output, or from the card's input, each card port that lights
    up takes the wire (the edit is made), and each that stays dark would have been refused or changed
    nothing."""
    from layerloom.app.canvas.gestures import NewWireGesture
    doc, _, _ = case
    win.session.set_document(doc)
    edits.set_collapsed(win.session, ["g"], True)
    card = win.scene.groups.items["g"]
    sources = [p for item in win.scene.blocks.values() if item.isVisible() for p in item.out_ports]
    sources += [p for p in card.ports if not p.is_output]
    port = sources[start % len(sources)]
    gesture = NewWireGesture(win.view)
    gesture.port = port
    lit = gesture._compatible_ports()
    pairs = [(port, p) for p in card.ports if not p.is_output and port.is_output]
    for src, dst in pairs:
        steps = win.session.undo_stack.index()
        done = edits.feed_group(win.session, "g", dst.source, (src.block_id, src.index))
        changed = win.session.undo_stack.index() > steps
        assert (dst in lit) == bool(done and changed), (src.block_id, dst.source, dst in lit)
        if changed:
            win.session.undo()
    if not port.is_output:                        # from the card's input: every visible output it may take
        for item in win.scene.blocks.values():
            for src in item.out_ports if item.isVisible() else ():
                steps = win.session.undo_stack.index()
                done = edits.feed_group(win.session, "g", port.source, (src.block_id, src.index))
                changed = win.session.undo_stack.index() > steps
                assert (src in lit) == bool(done and changed) or (src.block_id, src.index) == port.source
                if changed:
                    win.session.undo()
