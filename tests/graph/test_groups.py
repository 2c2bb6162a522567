"""Groups (module paths) as a tree: which blocks each holds, which are collapsed, how they are saved,
undone, and laid out."""
from __future__ import annotations

import pytest

from layerloom.graph.changes import Transaction
from layerloom.graph.fileformat import GraphFileError, graph_from_dict, graph_to_dict
from layerloom.graph.groups import group_names, members, parents, shown_as, with_collapsed
from layerloom.graph.importers import import_source
from layerloom.graph.layout import layout_plan


@pytest.fixture(scope="module")
def resnet18():
    return import_source("torchvision:resnet18", (3, 32, 32), fidelity=False).doc


def test_every_prefix_of_a_module_path_is_a_group(resnet18):
    assert parents("layer2.0.downsample") == ["layer2", "layer2.0", "layer2.0.downsample"]
    names = group_names(resnet18)
    assert names[:3] == ["layer1", "layer1.0", "layer1.1"] and len(names) == 15
    inside = members(resnet18)
    assert len(inside["layer1"]) == 14 and len(inside["layer1.0"]) == 7
    assert inside["layer2.0.downsample"] == ["layer2_0_downsample_0", "layer2_0_downsample_1"]
    assert set(inside["layer2.0"]) >= set(inside["layer2.0.downsample"])
    # torchvision's own modules: the blocks of layer1 are the modules under model.layer1 that hold weights
    model = import_source("torchvision:resnet18", (3, 32, 32), fidelity=False).model
    convs = {n.replace(".", "_") for n, _ in model.layer1.named_modules(prefix="layer1") if n.count(".") == 2}
    assert convs <= set(inside["layer1"])
    assert shown_as("layer1.0", ["layer1.0", "layer1"]) == "layer1"        # the outermost collapsed one
    assert shown_as("layer1.1", ["layer1.0"]) == ""
    assert with_collapsed(["layer1"], ["layer2", "layer1"], True) == ["layer1", "layer2"]
    assert with_collapsed(["layer1", "layer2"], ["layer1"], False) == ["layer2"]


def test_collapsed_groups_are_saved_and_undone(resnet18):
    doc = resnet18.copy()
    with Transaction(doc) as t:
        t.set_meta("collapsed", ["layer1.0", "layer3"])
    data = graph_to_dict(doc)
    assert data["version"] == 3 and data["collapsed"] == ["layer1.0", "layer3"]
    assert graph_from_dict(data).collapsed == ["layer1.0", "layer3"]
    for change in t.undo_list():
        change.apply(doc)
    assert doc.collapsed == [] and "collapsed" not in graph_to_dict(doc)
    # A name that is no group (any more) is not written; older files without the key load expanded.
    doc.collapsed = ["layer1", "gone"]
    assert graph_to_dict(doc)["collapsed"] == ["layer1"]
    data.pop("collapsed")
    data["version"] = 2
    assert graph_from_dict(data).collapsed == []


@pytest.mark.parametrize("bad", ["layer1", [1], [""], {"layer1": True}])
def test_a_bad_collapsed_list_is_refused_with_its_location(resnet18, bad):
    data = graph_to_dict(resnet18)
    data["collapsed"] = bad
    with pytest.raises(GraphFileError) as err:
        graph_from_dict(data)
    assert err.value.location == "$.collapsed" and "list of group names" in str(err.value)


def test_auto_layout_keeps_each_group_in_one_row(resnet18):
    """Rows break between torchvision's layer1..layer4, not inside them: a collapsed group's card then
    stands for blocks of its own row only."""
    pos, band = layout_plan(resnet18)
    for name, ids in members(resnet18).items():
        assert len({band[b] for b in ids}) == 1, name
    stem = ["input", "conv1", "bn1", "relu", "maxpool"]
    assert len({band[b] for b in stem}) == 1 and band["maxpool"] < band["layer1_0_conv1"]
    xs = [x for x, _ in pos.values()]
    assert max(xs) - min(xs) <= 13 * 210                  # still at most 14 columns a row
