"""Graph-attached weights, trainable switches and groups: through the file, compile and undo."""
import json
import os

import pytest
import torch

from layerloom.graph import analyze, compile_graph, load_graph, save_graph
from layerloom.graph.fileformat import GraphFileError, graph_from_dict, graph_to_dict
from layerloom.graph.weights import WeightsError, load_matching, match_weights, save_graph_weights

from .helpers import chain


def _net():
    doc = chain(("Conv2d", {"out_channels": 4, "kernel_size": 3}), ("BatchNorm2d", {}), ("Flatten", {}),
                ("Linear", {"out_features": 5}), shape=(2, 6, 6))
    return doc


def test_weights_file_travels_with_the_graph_into_compile(tmp_path):
    doc = _net()
    trained = compile_graph(doc, seed=1)
    with torch.no_grad():
        trained.bn1.running_mean.uniform_()
    graph_file = tmp_path / "net.loom.json"
    doc.path = str(graph_file)
    save_graph_weights(doc, trained.state_dict(), tmp_path / "weights" / "net.safetensors")
    assert doc.weights == "weights/net.safetensors"
    save_graph(doc, graph_file)
    assert json.loads(graph_file.read_text())["weights"] == "weights/net.safetensors"

    again = load_graph(graph_file)
    model = compile_graph(again, seed=7)      # a different seed: every tensor must come from the file
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    report = model.meta["layerloom"]["weights"]
    assert set(report["loaded"]) == set(trained.state_dict()) and report["new"] == []

    # saved elsewhere, the graph still names the same weights file
    other = tmp_path / "elsewhere"
    other.mkdir()
    save_graph(again, other / "copy.loom.json")
    moved = load_graph(other / "copy.loom.json")
    assert moved.weights == "../weights/net.safetensors"
    assert torch.equal(compile_graph(moved).conv1.weight, trained.conv1.weight)


def test_a_changed_block_keeps_fresh_weights_and_the_report_says_so(tmp_path):
    doc = _net()
    trained = compile_graph(doc, seed=1)
    doc.path = str(tmp_path / "net.loom.json")
    save_graph_weights(doc, trained.state_dict(), "net.safetensors")
    doc.set_param("fc1", "out_features", 3)          # a new head
    model = compile_graph(doc, seed=2)
    report = model.meta["layerloom"]["weights"]
    assert set(report["new"]) == {"fc1.weight", "fc1.bias"}
    assert {s["key"] for s in report["skipped"]} == {"fc1.weight", "fc1.bias"}
    assert "does not fit" in report["skipped"][0]["why"]
    assert torch.equal(model.conv1.weight, trained.conv1.weight)
    assert model.fc1.weight.shape == (3, 64)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    doc = _net()
    doc.weights = "gone.safetensors"
    doc.path = str(tmp_path / "net.loom.json")
    with pytest.raises(WeightsError, match="gone.safetensors does not exist"):
        compile_graph(doc)
    (tmp_path / "gone.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        compile_graph(doc)


@pytest.mark.parametrize("make, kind", [
    (lambda p: p.mkdir(), "folder"),
    (lambda p: os.mkfifo(p), "pipe"),                 # reading it would wait for ever
    (lambda p: p.symlink_to("/dev/zero"), "device"),   # reading it would never end
])
def test_weights_that_name_something_other_than_a_file_say_what_it_is_and_are_never_read(tmp_path, make, kind):
    doc = _net()
    doc.weights = "w.safetensors"
    doc.path = str(tmp_path / "net.loom.json")
    make(tmp_path / "w.safetensors")
    with pytest.raises(WeightsError, match=f"w.safetensors is not a file but a {kind}: name a .safetensors file"):
        compile_graph(doc)


def test_matching_by_module_path_and_shape():
    target = {"layer1_0_conv1.weight": torch.zeros(2, 3), "fc.weight": torch.zeros(4, 2), "fc.bias": torch.zeros(4)}
    source = {"module.layer1.0.conv1.weight": torch.ones(2, 3), "fc.weight": torch.ones(10, 2),
              "fc.bias": torch.ones(10), "extra.weight": torch.ones(1)}
    chosen, report = match_weights(target, source)
    assert set(chosen) == {"layer1_0_conv1.weight"}
    assert report.new == ["fc.weight", "fc.bias"]
    reasons = dict(report.skipped)
    assert "does not fit" in reasons["fc.weight"] and reasons["extra.weight"] == "no block of this graph has it"


def test_a_block_loads_all_its_tensors_or_none():
    """A Linear whose bias fits but whose weight does not keeps both fresh: loading the bias alone
    would give a layer that neither the source nor a fresh Linear is."""
    doc = _net()
    graph = compile_graph(doc, seed=1)
    fresh = {k: v.clone() for k, v in graph.state_dict().items()}
    source = {k: torch.full_like(v, 0.5) for k, v in fresh.items() if not k.endswith("num_batches_tracked")}
    source["fc1.weight"] = torch.ones(5, 99)                 # the source's Linear read 99 features
    report = load_matching(graph, source, "other.safetensors")
    assert torch.equal(graph.fc1.bias, fresh["fc1.bias"]) and torch.equal(graph.fc1.weight, fresh["fc1.weight"])
    assert report.new == ["bn1.num_batches_tracked", "fc1.weight", "fc1.bias"]
    reasons = dict(report.skipped)
    assert reasons["fc1.bias"].startswith("block fc1 loads all its tensors or none, and the source has no weight")
    assert "does not fit fc1.weight" in reasons["fc1.weight"]
    # a BatchNorm from a source without num_batches_tracked still loads whole
    assert torch.equal(graph.bn1.running_var, torch.full((4,), 0.5)) and "conv1.bias" in report.loaded


def test_version_1_files_still_load_and_version_2_keeps_trainable_and_group():
    doc = _net()
    data = graph_to_dict(doc)
    data["version"] = 1
    assert graph_from_dict(data).blocks["conv1"].trainable
    doc.set_block_attr("conv1", "trainable", False)
    doc.set_block_attr("conv1", "group", "features.0")
    data = graph_to_dict(doc)
    assert data["version"] >= 2
    again = graph_from_dict(json.loads(json.dumps(data)))
    assert again.blocks["conv1"].trainable is False and again.blocks["conv1"].group == "features.0"
    assert again.blocks["fc1"].trainable is True and again.blocks["fc1"].group == ""
    copy = again.copy()
    assert copy.blocks["conv1"].trainable is False and copy.blocks["conv1"].group == "features.0"
    bad = json.loads(json.dumps(data))
    bad["blocks"][1]["trainable"] = "no"
    with pytest.raises(GraphFileError, match="trainable must be true or false"):
        graph_from_dict(bad)
    bad = json.loads(json.dumps(data))
    bad["weights"] = "/etc/passwd"
    with pytest.raises(GraphFileError, match="relative to the graph file"):
        graph_from_dict(bad)


def test_set_block_attr_is_reversible_and_tells_observers():
    doc = _net()
    events = []
    doc.subscribe(events.append)
    old = doc.set_block_attr("bn1", "trainable", False)
    assert old is True and events[-1].type == "block_changed" and events[-1].name == "trainable"
    doc.set_block_attr("bn1", "trainable", old)
    assert doc.blocks["bn1"].trainable
    assert analyze(doc).ok
