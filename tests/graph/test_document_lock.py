"""A locked document (a training run depends on it) refuses network edits and says why."""
import pytest

from layerloom.graph.document import Edge, GraphDocument, GraphEditError

REASON = "the graph is read-only while it trains"


def small():
    doc = GraphDocument("g")
    a = doc.add_block("Input", {"shape": [4]})
    b = doc.add_block("Linear", {"out_features": 2})
    doc.connect(a, b)
    return doc, a, b


@pytest.mark.parametrize("edit", [
    lambda d, a, b: d.add_block("ReLU"),
    lambda d, a, b: d.remove_block(b),
    lambda d, a, b: d.connect(b, a),
    lambda d, a, b: d.disconnect(Edge(a, b)),
    lambda d, a, b: d.set_param(b, "out_features", 3),
    lambda d, a, b: d.rename_block(b, "head"),
])
def test_locked_document_refuses_network_edits_with_the_reason(edit):
    doc, a, b = small()
    before = (dict(doc.blocks), list(doc.edges), dict(doc.blocks[b].params), doc.revision)
    doc.lock(REASON)
    with pytest.raises(GraphEditError, match="read-only while it trains"):
        edit(doc, a, b)
    assert (dict(doc.blocks), list(doc.edges), dict(doc.blocks[b].params), doc.revision) == before


def test_moves_and_metadata_stay_editable_and_unlock_restores_edits():
    doc, a, b = small()
    doc.lock(REASON)
    doc.move_block(b, (100, 50))
    doc.set_meta("name", "renamed")
    assert doc.blocks[b].pos == (100.0, 50.0) and doc.name == "renamed"
    assert doc.copy().locked is None            # what the trainer trains is a free copy
    doc.unlock()
    doc.set_param(b, "out_features", 3)
    assert doc.blocks[b].params["out_features"] == 3 and doc.locked is None
