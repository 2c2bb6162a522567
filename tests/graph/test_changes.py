"""Change objects apply themselves and return their inverse; a transaction rolls back as one."""
from __future__ import annotations

import pytest

from layerloom.graph.changes import (AddBlock, Connect, MoveBlock, RemoveBlock, SetMeta, SetParam, Transaction,
                                     apply_all)
from layerloom.graph.document import Edge, GraphEditError
from layerloom.graph.fileformat import graph_to_dict, load_graph
from layerloom.presets import preset_path


def lenet():
    return load_graph(preset_path("lenet5"))


def snapshot(doc):
    return graph_to_dict(doc)


def test_each_change_and_its_inverse_leave_the_file_as_it_was():
    doc = lenet()
    before = snapshot(doc)
    for change in (SetParam("conv1", "out_channels", 8), SetParam("conv1", "padding"), MoveBlock("pool1", (5.0, 7.0)),
                   SetMeta("name", "Changed"), AddBlock("ReLU", {}, (1.0, 2.0)), Connect(Edge("input", "fc1"))):
        inverse = change.apply(doc)
        assert snapshot(doc) != before
        again = inverse.apply(doc)
        assert snapshot(doc) == before
        assert type(again) is type(change)


def test_removing_a_wired_block_then_undoing_and_redoing_restores_ids_order_and_wires():
    doc = lenet()
    before = snapshot(doc)
    with Transaction(doc) as t:
        t.remove_block("pool1")
        new = t.add_block("AvgPool2d", {"kernel_size": 2}, (1, 1))
        t.connect("relu1", new)
    after = snapshot(doc)
    assert "pool1" not in doc.blocks and doc.edges_into(new)[0].src == "relu1"
    assert [type(c).__name__ for c in t.inverses] == ["Connect", "Connect", "AddBlock", "RemoveBlock", "Disconnect"]
    redo = apply_all(doc, t.undo_list())
    assert snapshot(doc) == before                                # order of blocks and wires included
    apply_all(doc, redo)
    assert snapshot(doc) == after


def test_a_refused_change_rolls_the_whole_transaction_back():
    doc = lenet()
    before = snapshot(doc)
    with pytest.raises(GraphEditError):
        with Transaction(doc) as t:
            t.set_param("conv1", "out_channels", 4)
            t.move_block("conv1", (300, 300))
            t.rename_block("pool1", "conv2")                       # taken: refused by the document
    assert snapshot(doc) == before


def test_layout_only_transactions_do_not_change_the_network():
    doc = lenet()
    t = Transaction(doc)
    t.move_block("conv1", (3, 4))
    t.set_meta("description", "notes")
    assert t.changed and not t.network
    t.set_param("conv1", "out_channels", 7)
    assert t.network


def test_remove_block_inverse_keeps_trainable_and_group():
    doc = lenet()
    doc.set_block_attr("conv1", "trainable", False)
    doc.set_block_attr("conv1", "group", "features")
    for edge in list(doc.edges_of("conv1")):
        doc.disconnect(edge)
    inverse = RemoveBlock("conv1").apply(doc)
    inverse.apply(doc)
    assert doc.blocks["conv1"].trainable is False and doc.blocks["conv1"].group == "features"
