"""Each port says, on hover, what it is: its name, the shape analysis found there, and what may be wired to
it; attention's query, key and value are named on the card, beside their ports."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from layerloom.graph.document import GraphDocument

from .helpers import move, port_point


def attention_graph() -> GraphDocument:
    doc = GraphDocument("attention")
    q = doc.add_block("Input", {"shape": [5, 16]}, (0, 0), block_id="q")
    kv = doc.add_block("Input", {"shape": [7, 16]}, (0, 200), block_id="kv")
    att = doc.add_block("MultiheadAttention", {"num_heads": 4, "num_inputs": 3}, (300, 60), block_id="att")
    doc.connect(q, att, 0, 0)
    doc.connect(kv, att, 0, 1)
    doc.connect(kv, att, 0, 2)
    return doc


def hover_tip(win, point: QPoint) -> str:
    """Move the mouse onto `point` of the canvas and ask for its tooltip, as Qt does after a pause there."""
    viewport = win.view.viewport()
    move(viewport, point + QPoint(30, 30))
    move(viewport, point)
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, point, viewport.mapToGlobal(point)))
    return QToolTip.text() if QToolTip.isVisible() else ""


def test_hovering_a_port_says_its_name_shape_and_what_may_connect(win, qtbot):
    win.session.set_document(attention_graph())
    win.view.set_zoom(1.0)
    win.view.centerOn(win.scene.blocks["att"])
    qtbot.waitUntil(lambda: win.session.result is not None, timeout=20_000)
    tips = [hover_tip(win, port_point(win, "att", False, i)) for i in range(3)]
    assert "att</b>: query" in tips[0] and "From q." in tips[0] and "5×16" in tips[0]
    assert "att</b>: key" in tips[1] and "From kv." in tips[1] and "7×16" in tips[1]
    assert "att</b>: value" in tips[2] and "as many steps S as the key" in tips[2]
    assert all("replaces it" in t for t in tips)
    out = hover_tip(win, port_point(win, "att", True, 0))
    assert "att</b>: output" in out and "5×16" in out and "any number of inputs" in out
    q_out = hover_tip(win, port_point(win, "q", True, 0))
    assert "q</b>: output" in q_out and "5×16" in q_out
    assert win.scene.blocks["att"].look.input_names == ("query", "key", "value")


def test_an_unwired_port_of_a_block_with_alike_inputs_says_which_it_is(win, qtbot):
    doc = GraphDocument("merge")
    doc.add_block("Concat", {"num_inputs": 3}, (0, 0), block_id="cat")
    win.session.set_document(doc)
    win.view.set_zoom(1.0)
    win.view.centerOn(win.scene.blocks["cat"])
    tip = hover_tip(win, port_point(win, "cat", False, 1))
    assert "cat</b>: input 2 of 3" in tip and "Nothing wired in yet" in tip and "other dimensions must match" in tip
    assert win.scene.blocks["cat"].look.input_names == ()


def test_one_output_into_two_ports_of_a_block_is_labelled_once(win, qtbot):
    """kv feeds the key and the value: the two wires run side by side and their labels overlapped."""
    win.session.set_document(attention_graph())
    qtbot.waitUntil(lambda: win.session.result is not None, timeout=20_000)
    labels = {(e.src, e.dst_port): w.label for e, w in win.scene.wires.items()}
    assert labels == {("q", 0): "5×16", ("kv", 1): "7×16", ("kv", 2): ""}
