"""Undoing the delete of a large graph does each block's and wire's work once, not once per block."""
from __future__ import annotations

from layerloom.graph.changes import Transaction, apply_all
from layerloom.graph.document import Edge, GraphDocument
from layerloom.graph.fileformat import graph_to_dict


class ScanCountingList(list):
    """A wire list that counts the times something walks over all of it."""
    scans = 0

    def __iter__(self):
        ScanCountingList.scans += 1
        return super().__iter__()


class OrderCountingDocument(GraphDocument):
    """A document that counts the times its block order is built anew."""
    rebuilt = 0

    def __setattr__(self, name, value):
        if name == "blocks":
            OrderCountingDocument.rebuilt += 1
        super().__setattr__(name, value)


def chain(n: int) -> OrderCountingDocument:
    doc = OrderCountingDocument("chain")
    last = doc.add_block("Input", {"shape": [4]})
    for i in range(n - 1):
        b = doc.add_block("ReLU", None, (float(i), 0.0))
        doc.connect(last, b)
        last = b
    return doc


def test_undoing_the_delete_of_every_block_restores_the_file_with_one_pass_over_the_wires_and_order():
    doc = chain(200)
    before = graph_to_dict(doc)
    with Transaction(doc) as t:
        for b in list(doc.blocks):
            t.remove_block(b)
    assert not doc.blocks and not doc.edges
    doc.edges = ScanCountingList()
    ScanCountingList.scans = OrderCountingDocument.rebuilt = 0
    redo = apply_all(doc, t.undo_list())
    assert graph_to_dict(doc) == before                      # ids, order, positions and wires as they were
    assert ScanCountingList.scans <= 2 and OrderCountingDocument.rebuilt <= 1   # was 199 scans, 199 rebuilds
    apply_all(doc, apply_all(doc, redo))                     # redo, then undo again
    assert graph_to_dict(doc) == before


def test_a_duplicate_wire_is_still_refused_after_wires_come_and_go():
    doc = chain(3)
    a, b, c = list(doc.blocks)
    edge = doc.edges[0]
    doc.disconnect(edge)
    doc.connect(a, b)
    try:
        doc.connect(a, b)
    except ValueError as exc:
        assert "already wired" in str(exc)
    else:
        raise AssertionError("a second identical wire was accepted")
    doc.rename_block(b, "middle")
    assert doc.has_wire(type(edge)("middle", c)) and not doc.has_wire(type(edge)(b, c))


def test_undoing_a_paste_of_many_wires_does_not_compare_each_wire_with_every_other(monkeypatch):
    doc = GraphDocument("paste")
    with Transaction(doc) as t:
        ids = [t.add_block("ReLU", None, (float(i), 0.0)) for i in range(300)]
        for a, b in zip(ids, ids[1:]):
            t.connect(a, b)
    pasted = graph_to_dict(doc)
    compared = []
    original = Edge.__eq__
    monkeypatch.setattr(Edge, "__eq__", lambda self, other: compared.append(1) or original(self, other))
    redo = apply_all(doc, t.undo_list())
    assert not doc.blocks and not doc.edges
    assert len(compared) < 300                       # was 299 x 299: each wire looked for from the first one
    apply_all(doc, redo)
    assert graph_to_dict(doc) == pasted
