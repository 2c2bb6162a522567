"""Deleting thousands of blocks walks the wires once, not once per block, and undo and redo restore the
graph exactly; a paste that would make a graph too big for its file is refused."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_a_paste_past_what_a_graph_file_holds_is_refused_and_says_why(qapp, monkeypatch):
    """Pasting again and again made graphs that saved but could not be opened again."""
    from layerloom.app import clipboard
    monkeypatch.setattr(edits, "MAX_BLOCKS", 12)
    session = Session()
    session.set_document(chain(5))
    said = []
    session.message.connect(said.append)
    frag = clipboard.fragment(session.document, list(session.document.blocks))
    assert edits.paste(session, frag)                        # 10 blocks
    refused = edits.paste(session, frag, text="Duplicate")   # 15: too many
    assert not refused and len(session.document.blocks) == 10 and session.undo_stack.count() == 1
    assert "15 blocks" in refused.reason and "paste fewer blocks" in refused.reason
    assert said[-1].startswith("Cannot duplicate: the graph would hold 15 blocks")


class ScanCountingBlocks(dict):
    """A block dict that counts the blocks walked over."""
    visited = 0

    def __iter__(self):
        ScanCountingBlocks.visited += len(self)
        return super().__iter__()


def test_deleting_the_middle_of_a_large_graph_walks_its_wires_and_blocks_a_few_times_not_once_per_block(qapp):
    """Deleting part of a graph searched every wire left for each deleted block's wires (blocks x wires)."""
    session = Session()
    doc = chain(400)
    session.set_document(doc)
    before = graph_to_dict(doc)
    ids = list(doc.blocks)
    middle = ids[100:300]
    doc.edges = VisitCountingList(doc.edges)
    doc.blocks = ScanCountingBlocks(doc.blocks)
    VisitCountingList.visited = ScanCountingBlocks.visited = 0
    assert edits.delete(session, middle[::-1] + middle[:5])        # in any order, a block named twice
    assert list(doc.blocks) == ids[:100] + ids[300:] and len(doc.edges) == 398 - 200
    assert VisitCountingList.visited <= 8 * 399                     # was about 200 x 200 = 40,000
    assert ScanCountingBlocks.visited <= 8 * 400                    # was about 200 x 300 = 60,000
    session.undo()
    assert graph_to_dict(session.document) == before
    session.redo()
    assert list(session.document.blocks) == ids[:100] + ids[300:]
    session.undo()
    assert graph_to_dict(session.document) == before


@settings(derandomize=True, deadline=None, database=None, max_examples=20)
@given(st.lists(st.tuples(st.sampled_from(["delete", "undo", "redo", "wire", "rename"]), st.integers(0, 10 ** 6)),
                max_size=12))
def test_the_wire_index_agrees_with_the_wires_through_deletes_undo_redo_and_renames(qapp, steps):
    """The index of each block's wires kept beside the wire list gives what a search of the list gives."""
    session = Session()
    doc = chain(12)
    session.set_document(doc)
    for op, n in steps:
        doc = session.document
        ids = list(doc.blocks)
        if op == "delete" and ids:
            picked = [ids[(n >> k) % len(ids)] for k in range(0, 3 * (n % 4), 3)]
            edits.delete(session, picked)
        elif op == "undo":
            session.undo()
        elif op == "redo":
            session.redo()
        elif op == "wire" and len(ids) > 2:
            src, dst = ids[n % len(ids)], ids[(n // 7) % len(ids)]
            if src != dst and not doc.locked:
                session.edit("Wire", lambda r: r.connect(src, dst)) if not any(
                    e.dst == dst for e in doc.edges) else None
        elif op == "rename" and ids:
            b = ids[n % len(ids)]
            session.edit("Rename", lambda r: r.rename_block(b, f"{b}x")) if f"{b}x" not in doc.blocks else None
        doc = session.document
        for b in doc.blocks:
            assert doc.edges_of(b) == [e for e in doc.edges if b in (e.src, e.dst)]
        for i, e in enumerate(doc.edges):
            assert doc.edge_index(e) == i
