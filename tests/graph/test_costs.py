"""MACs as papers and torchvision count them; FLOPs = 2 × MACs, as FlopCounterMode counts them."""
import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import AlexNet_Weights, ResNet18_Weights, VGG11_Weights

from layerloom.graph import analyze, compile_graph, load_graph
from layerloom.graph.summary import partial_text, summary_json, summary_table
from layerloom.presets import preset_path

from .helpers import chain

# torchvision's published figures (its model docs' "GFLOPS" column, which counts multiply-adds),
# read from the weights' metadata that torchvision ships: 1.814, 0.714 and 7.609 G at 224×224.
PUBLISHED = [("resnet18", torchvision.models.resnet18, ResNet18_Weights.IMAGENET1K_V1),
             ("alexnet", torchvision.models.alexnet, AlexNet_Weights.IMAGENET1K_V1),
             ("vgg11", torchvision.models.vgg11, VGG11_Weights.IMAGENET1K_V1)]


def at_1000_classes(name):
    doc = load_graph(preset_path(name))
    assert doc.blocks["input"].params["shape"] == [3, 224, 224]
    last_linear = [bid for bid, b in doc.blocks.items() if b.kind == "Linear"][-1]
    doc.set_param(last_linear, "out_features", 1000)
    return doc


@pytest.mark.parametrize("name, build, weights", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_total_macs_match_torchvision_published_figures(name, build, weights):
    result = analyze(at_1000_classes(name))
    assert result.ok and result.not_computed == 0
    assert result.total_params == weights.meta["num_params"]
    published = weights.meta["_ops"] * 1e9
    assert result.total_macs == pytest.approx(published, rel=0.01)
    # FLOPs are FlopCounterMode's count of torchvision's own model on the same input
    with torch.device("meta"):
        model = build()
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    assert result.total_flops == counter.get_total_flops() == 2 * result.total_macs
    # the preset's description quotes these figures
    description = load_graph(preset_path(name)).description
    assert f"{result.total_params / 1e6:.1f} M parameters, {result.total_macs / 1e9:.2f} G MACs" in description


def test_lenet5_description_accounts_for_its_parameter_count():
    doc = load_graph(preset_path("lenet5"))
    total = analyze(doc).total_params
    assert f"{total:,} parameters against the paper's 60,000 trainable (+900 in C3, -44 in pooling, +850 in the " \
           "output)" in doc.description
    assert total == 60_000 + 900 - 44 + 850


def test_block_costs_against_flop_counter_on_real_tensors():
    doc = load_graph(preset_path("lenet5"))
    result = analyze(doc)
    model = compile_graph(doc).eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 28, 28))
    assert result.total_flops == counter.get_total_flops()
    fc1 = result.blocks["fc1"]
    assert (fc1.macs, fc1.flops) == (400 * 120, 2 * 400 * 120)
    conv1 = result.blocks["conv1"]            # 6 maps of 28×28, each output a 1×5×5 dot product
    assert conv1.macs == 6 * 28 * 28 * 25


def test_partial_totals_name_the_blocks_not_computed():
    doc = chain(("Linear", {"out_features": 30}), ("Conv2d", {"out_channels": 4, "kernel_size": 3}),
                ("ReLU", {}), ("Linear", {"out_features": 5}), shape=(20,))
    result = analyze(doc)
    assert not result.ok
    assert result.not_computed == 4          # conv1 fails; relu1, fc2 and output are blocked
    assert result.total_macs == 20 * 30
    assert partial_text(result) == "partial: 4 blocks not computed"
    table = summary_table(doc, result)
    assert "Total MACs per sample: 600 (600) (partial: 4 blocks not computed)" in table
    assert "Total FLOPs per sample: 1,200 (1.20K) (partial: 4 blocks not computed)" in table
    data = summary_json(doc, result)
    assert (data["total_macs"], data["total_flops"], data["not_computed"]) == (600, 1200, 4)
    assert partial_text(analyze(load_graph(preset_path("lenet5")))) == ""
