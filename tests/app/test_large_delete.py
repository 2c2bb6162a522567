"""Deleting thousands of blocks walks the wires once, not once per block, and undo and redo restore the
graph exactly."""
from __future__ import annotations

from layerloom.app import edits
from layerloom.app.session import Session
from layerloom.graph.fileformat import graph_to_dict

from ..graph.test_large_undo import chain


class VisitCountingList(list):
    """A wire list that counts the wires walked over."""
    visited = 0

    def __iter__(self):
        VisitCountingList.visited += len(self)
        return super().__iter__()


def test_deleting_every_block_walks_the_wires_about_once_and_undoes_exactly(qapp):
    session = Session()
    doc = chain(200)
    session.set_document(doc)
    before = graph_to_dict(doc)
    doc.edges = VisitCountingList(doc.edges)
    VisitCountingList.visited = 0
    assert edits.delete(session, list(doc.blocks))
    assert not doc.blocks and not doc.edges
    assert VisitCountingList.visited <= 2 * 199               # was 199 x 199: a search for each block's wires
    session.undo()
    assert graph_to_dict(session.document) == before
    session.redo()
    assert not session.document.blocks
    session.undo()
    assert graph_to_dict(session.document) == before


def test_deleting_blocks_and_a_selected_wire_twice_over_is_one_step(qapp):
    session = Session()
    doc = chain(6)
    session.set_document(doc)
    before = graph_to_dict(doc)
    ids = list(doc.blocks)
    loose = doc.edges[-1]
    assert edits.delete(session, ids[1:3], [loose, loose])
    assert set(doc.blocks) == set(ids) - set(ids[1:3]) and loose not in doc.edges
    assert session.undo_stack.count() == 1
    session.undo()
    assert graph_to_dict(session.document) == before
