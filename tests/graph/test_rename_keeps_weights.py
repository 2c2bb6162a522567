"""Renaming an imported block keeps its imported weights: through save and reopen, undo and redo, and a
weights file written after the rename. The reference is the torch module the graph was imported from."""
from __future__ import annotations

import json

import pytest
import torch

from layerloom.graph import compile_graph
from layerloom.graph.changes import Transaction, apply_all
from layerloom.graph.fileformat import GraphFileError, graph_to_dict, load_graph, save_graph
from layerloom.graph.importers import import_source, save_import
from layerloom.graph.weights import read_graph_weights, save_graph_weights

MODEL = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2)
        self.head = nn.Linear(8 * 3 * 3, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.head(torch.flatten(x, 1))
'''


@pytest.fixture
def imported(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    result = import_source(f"{path}:Net", (3, 8, 8))
    model = result.model.eval()
    with torch.no_grad():           # running statistics that are not the fresh ones
        model.bn1.running_mean.uniform_(-1, 1)
        model.bn1.running_var.uniform_(0.5, 2)
        result.state = {k: v.clone() for k, v in model.state_dict().items()}
    graph = tmp_path / "net.loom.json"
    save_import(result, graph)
    return model, graph


def _same_as_source(graph, model, seed: int = 1) -> dict:
    gm = compile_graph(load_graph(graph), seed=seed).eval()     # a new document, another seed for fresh weights
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        torch.testing.assert_close(gm(x), model(x), rtol=0, atol=1e-6)
    return gm.meta["layerloom"]["weights"]


def test_renamed_blocks_keep_their_weights_through_save_reopen_undo_and_redo(imported):
    model, graph = imported
    _same_as_source(graph, model)
    doc = load_graph(graph)
    with Transaction(doc) as t:
        t.rename_block("conv1", "stem_conv")
        t.rename_block("bn1", "stem_norm")
    undo = t.undo_list()
    save_graph(doc, graph)
    data = json.loads(graph.read_text())
    assert data["weights_ids"] == {"stem_conv": "conv1", "stem_norm": "bn1"} and data["version"] == 4
    report = _same_as_source(graph, model)
    assert report["new"] == [] and report["skipped"] == []

    redo = apply_all(doc, undo)           # undo the renames: the ids are the file's again
    assert doc.weights_ids == {} and "conv1" in doc.blocks
    save_graph(doc, graph)
    assert "weights_ids" not in json.loads(graph.read_text()) and json.loads(graph.read_text())["version"] == 3
    _same_as_source(graph, model)
    apply_all(doc, redo)
    save_graph(doc, graph)
    _same_as_source(graph, model)


def test_two_blocks_that_swap_ids_each_keep_their_own_weights(imported):
    """conv1 -> tmp, conv2 -> conv1, tmp -> conv2: each new id has the other block's tensors in the file; every
    block still takes those of the id it had."""
    model, graph = imported
    doc = load_graph(graph)
    with Transaction(doc) as t:
        t.rename_block("conv1", "tmp")
        t.rename_block("conv2", "conv1")
        t.rename_block("tmp", "conv2")
    assert doc.weights_ids == {"conv1": "conv2", "conv2": "conv1"}
    save_graph(doc, graph)
    report = _same_as_source(graph, model)
    assert report["new"] == [] and report["skipped"] == []


def test_a_block_renamed_to_a_deleted_blocks_id_keeps_its_own_weights(imported):
    """conv2 deleted (its tensors stay in the file under conv2), then head renamed to conv2: the renamed block
    takes head's tensors, not the deleted block's."""
    model, graph = imported
    doc = load_graph(graph)
    with Transaction(doc) as t:
        t.remove_block("conv2")
        t.rename_block("head", "conv2")
    save_graph(doc, graph)
    got = read_graph_weights(load_graph(graph))            # what compiling the reopened graph loads
    source = model.state_dict()
    torch.testing.assert_close(got["conv2.weight"], source["head.weight"], rtol=0, atol=0)
    torch.testing.assert_close(got["conv2.bias"], source["head.bias"], rtol=0, atol=0)
    assert not any(k.startswith("head.") for k in got)


def test_a_chain_of_renames_and_a_new_block_with_the_old_id(imported):
    """conv1 -> a -> b, then a new block takes the id conv1: the renamed block keeps conv1's tensors, and
    the newcomer does not take them."""
    model, graph = imported
    doc = load_graph(graph)
    with Transaction(doc) as t:
        t.rename_block("conv1", "a")
        t.rename_block("a", "b")
        t.rename_block("head", "conv1")          # an id the weights file gives another block's tensors
        t.rename_block("conv1", "classifier")
    assert doc.weights_ids == {"b": "conv1", "classifier": "head"}
    save_graph(doc, graph)
    _same_as_source(graph, model)
    apply_all(doc, t.undo_list())
    assert doc.weights_ids == {} and set(doc.blocks) >= {"conv1", "head"}


def test_weights_written_after_a_rename_are_keyed_by_the_new_ids(imported, tmp_path):
    model, graph = imported
    doc = load_graph(graph)
    with Transaction(doc) as t:
        t.rename_block("conv2", "down")
    gm = compile_graph(doc).eval()
    save_graph_weights(doc, gm.state_dict(), "kept.safetensors")     # as pruning writes the kept weights
    assert doc.weights_ids == {}
    save_graph(doc, graph)
    _same_as_source(graph, model)


@pytest.mark.parametrize("value, says", [
    ({"nope": "conv1"}, "is not a block of this graph"),
    ({"conv2": "1x"}, "is not a usable id"),
    ({"conv2": "conv2"}, "own id"),
    ({"conv2": "conv1", "head": "conv1"}, "two blocks name the same id"),
    (["conv2"], "weights_ids must map"),
])
def test_a_file_whose_weights_ids_are_wrong_is_refused_in_words(imported, value, says):
    _model, graph = imported
    data = json.loads(graph.read_text())
    data["weights_ids"] = value
    graph.write_text(json.dumps(data))
    with pytest.raises(GraphFileError, match=says):
        load_graph(graph)


def test_a_file_without_weights_ids_still_loads(imported):
    model, graph = imported
    data = json.loads(graph.read_text())
    assert "weights_ids" not in data and data["version"] == 3
    assert graph_to_dict(load_graph(graph)) == data
    _same_as_source(graph, model)


def test_a_new_weights_file_set_in_an_edit_comes_with_an_empty_map_and_undo_brings_both_back(imported, tmp_path):
    """The prune edit sets a new weights file keyed by the blocks' ids now: the rename map goes with the old
    file, in the same undoable edit."""
    model, graph = imported
    doc = load_graph(graph)
    with Transaction(doc) as t:
        t.rename_block("conv1", "stem")
    state = compile_graph(doc, seed=1).state_dict()            # keyed by the blocks' ids now ("stem.weight")
    carrier = doc.copy()
    save_graph_weights(carrier, state, tmp_path / "new.safetensors")
    assert carrier.weights_ids == {}
    old_file = doc.weights
    with Transaction(doc) as t:
        t.set_meta("weights", carrier.weights)
        t.set_meta("weights_ids", {})
    assert doc.weights_ids == {} and read_graph_weights(doc)["stem.weight"].shape == state["stem.weight"].shape
    apply_all(doc, t.undo_list())
    assert doc.weights == old_file and doc.weights_ids == {"stem": "conv1"}
