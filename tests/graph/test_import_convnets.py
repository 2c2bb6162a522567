"""ShuffleNet V2 and ConvNeXt import without Opaque blocks: ShuffleNet's `x.chunk(2, dim=1)` becomes two Narrow
blocks, ConvNeXt's LayerNorm2d and layer scale become LayerNorm2d and LayerScale blocks, and the compiled
graph computes exactly what torchvision's model computes (same weights, torch.equal)."""
from __future__ import annotations

import os

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.shufflenetv2 import channel_shuffle

from layerloom.graph import GraphDocument, analyze, compile_graph, generated_code
from layerloom.graph.fileformat import load_graph
from layerloom.graph.importers import ImportFailure, ImportResult, import_source, save_import
from layerloom.graph.importers.fx_import import import_module
from layerloom.graph.weights import match_weights


def _randomised(model: nn.Module) -> nn.Module:
    """Weights, BatchNorm statistics and layer scales drawn from one seed, so every part counts."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if name.endswith("running_var")
                        else torch.randn(t.shape, generator=g) * 0.2)
    return model.eval()


def _imports_exactly(model: nn.Module, shape, tmp_path, name: str):
    doc, state, report = import_module(model, shape, name, name)
    assert report.opaque == []
    save_import(ImportResult(doc, state, report, model), tmp_path / f"{name}.loom.json")
    loaded = load_graph(tmp_path / f"{name}.loom.json")
    graph = compile_graph(loaded).eval()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(graph(x), model(x))
    return loaded


def test_shufflenet_v2_splits_its_channels_with_narrow_blocks_and_computes_exactly_what_torchvision_does(tmp_path):
    torch.manual_seed(0)
    model = _randomised(torchvision.models.ShuffleNetV2([2, 1, 1], [8, 16, 32, 64, 128], num_classes=7))
    doc = _imports_exactly(model, (3, 32, 32), tmp_path, "shufflenet2")
    narrows = sorted((p["start"], p["length"]) for b in doc.blocks.values() if b.kind == "Narrow"
                     for p in [b.params])
    assert narrows == [(0, 8), (8, 8)]      # stage2's second unit: x.chunk(2, dim=1) of 16 channels
    assert ".narrow(1, 8, 8)" in generated_code(doc)
    # channel_shuffle's view → transpose → contiguous → view is one ChannelShuffle block per unit: no block holds
    # the image size, so the imported network runs on other sizes too
    kinds = [b.kind for b in doc.blocks.values()]
    assert kinds.count("ChannelShuffle") == 4 and "Permute" not in kinds
    doc.set_param("input", "shape", [3, 48, 40])
    graph = compile_graph(doc).eval()
    x = torch.randn(2, 3, 48, 40, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(graph(x), model(x))


def test_convnext_imports_layer_norm_over_channels_and_layer_scale_as_blocks_exactly(tmp_path):
    torch.manual_seed(0)
    model = _randomised(ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 1)], stochastic_depth_prob=0.1,
                                 num_classes=5))
    doc = _imports_exactly(model, (3, 32, 32), tmp_path, "convnext")
    kinds = [b.kind for b in doc.blocks.values()]
    assert kinds.count("LayerScale") == 3 and kinds.count("LayerNorm2d") == 3     # stem, downsample, head
    scale = next(b for b in doc.blocks.values() if b.kind == "LayerScale")
    result = analyze(doc)
    assert result.blocks[scale.id].param_count == 16
    assert "class LayerScale(nn.Module)" in generated_code(doc)
    # torchvision's own tensors (as `init_from: torchvision:convnext_tiny` reads them) fill every block
    chosen, weights = match_weights(compile_graph(doc, weights=False).state_dict(), model.state_dict())
    assert weights.new == [] and weights.skipped == []
    assert torch.equal(chosen[f"{scale.id}.weight"], model.features[1][0].layer_scale)


def test_a_block_named_like_a_step_of_an_earlier_block_keeps_its_name_in_the_compiled_code():
    """ShuffleNet's channel shuffles reshape inside its units and `x.mean([2, 3])` makes a top-level block
    called `reshape`: fx keeps the names it gave the earlier steps, which used to refuse the graph."""
    doc = GraphDocument("names")
    x = doc.add_block("Input", {"shape": [4, 3]})
    first = doc.add_block("Reshape", {"shape": [12]}, block_id="shuffle")
    second = doc.add_block("Reshape", {"shape": [3, 4]}, block_id="reshape")
    out = doc.add_block("Output")
    for a, b in ((x, first), (first, second), (second, out)):
        doc.connect(a, b)
    graph = compile_graph(doc)
    assert [n.name for n in graph.graph.nodes if n.op == "call_method" and n.target == "reshape"] == \
        ["shuffle", "reshape"]
    x = torch.randn(2, 4, 3)
    assert torch.equal(graph(x), x.reshape(2, 3, 4))


class _LookAlike(nn.Module):
    """A view → transpose → view whose first view is used again: not only a shuffle, so it keeps its steps."""

    def forward(self, x):
        n, c, h, w = x.size()
        y = x.view(n, 2, c // 2, h, w)
        shuffled = y.transpose(1, 2).contiguous().view(n, c, h, w)
        return shuffled + y.reshape(n, c, h, w)


def test_a_view_transpose_view_that_is_used_elsewhere_keeps_its_reshape_and_permute_blocks():
    model = _LookAlike().eval()
    doc, state, report = import_module(model, (6, 3, 3), "look", "look")
    kinds = [b.kind for b in doc.blocks.values()]
    assert "ChannelShuffle" not in kinds and "Permute" in kinds
    graph = compile_graph(doc).eval()
    graph.load_state_dict(state, strict=True)
    x = torch.randn(2, 6, 3, 3)
    assert torch.equal(graph(x), model(x))


@pytest.mark.skipif(os.environ.get("LAYERLOOM_LONG") != "1", reason="full-size torchvision models: LAYERLOOM_LONG=1")
@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "convnext_tiny"])
def test_torchvisions_own_shufflenet_and_convnext_import_as_blocks_bit_for_bit(name):
    result = import_source(f"torchvision:{name}", (3, 64, 64))
    assert result.report.opaque == []
    assert result.report.fidelity["max_abs_diff"] == 0.0 and result.report.fidelity["tensors_equal"]



class _ShuffleUnit(nn.Module):
    """ShuffleNet V2's stride-1 unit in small: split the channels, convolve one half, join, shuffle."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        left, right = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((left, self.conv(right).relu()), dim=1), 2)


def test_an_exported_program_imports_chunk_and_channel_shuffle_as_blocks(tmp_path):
    """The torch.export path (a .pt2 file, or a model torch.fx cannot trace) maps aten's chunk and the shuffle's
    view → transpose → view the same way."""
    torch.manual_seed(0)
    model = _ShuffleUnit().eval()
    torch.export.save(torch.export.export(model, (torch.randn(2, 8, 5, 5),)), tmp_path / "unit.pt2")
    result = import_source(str(tmp_path / "unit.pt2"))
    kinds = sorted(b.kind for b in result.doc.blocks.values())
    assert kinds == ["ChannelShuffle", "Concat", "Conv2d", "Input", "Narrow", "Narrow", "Output", "ReLU"]
    assert result.report.fidelity["max_abs_diff"] == 0.0 and result.report.fidelity["tensors_equal"]


class _Rejoined(nn.Module):
    def forward(self, x):
        return torch.cat(x.chunk(2, dim=1), dim=1)


def test_joining_a_splits_pieces_without_naming_them_is_refused_in_words():
    with pytest.raises(ImportFailure, match=r"cat of a split's pieces as they come has no block: name them"):
        import_module(_Rejoined(), (4, 3, 3), "rejoined", "rejoined")


def test_a_convnext_exported_to_pt2_imports_its_layer_scales_and_channel_norms_as_blocks_exactly(tmp_path):
    """torch.export records `self.layer_scale * x` as a multiply that takes the weight as an input, and
    LayerNorm2d as permute → layer_norm → permute: they become the blocks the torch.fx route gives."""
    torch.manual_seed(0)
    model = _randomised(ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 1)], stochastic_depth_prob=0.1,
                                 num_classes=5))
    program = torch.export.export(model, (torch.randn(2, 3, 32, 32),))
    torch.export.save(program, tmp_path / "convnext.pt2")
    result = import_source(str(tmp_path / "convnext.pt2"))
    assert result.report.fidelity["max_abs_diff"] == 0.0 and result.report.fidelity["tensors_equal"]
    blocks = {b.id: (b.kind, b.group) for b in result.doc.blocks.values()}
    assert blocks["features_1_0_layer_scale"] == ("LayerScale", "features.1.0")
    assert blocks["features_0_1"] == ("LayerNorm2d", "features.0")
    assert blocks["features_1_0_block_1_permute"][0] == "Permute"      # a CNBlock's own permutes stay themselves
    assert [kind for kind, _ in blocks.values()].count("LayerNorm2d") == 3
    save_import(result, tmp_path / "convnext.loom.json")
    graph = compile_graph(load_graph(tmp_path / "convnext.loom.json")).eval()
    assert torch.equal(graph.state_dict()["features_1_0_layer_scale.weight"], model.features[1][0].layer_scale)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(graph(x), program.module()(x))


class _BareScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.full((4,), 2.0))

    def forward(self, x):
        return x * self.scale


def test_a_program_that_uses_its_own_tensor_in_a_way_no_block_holds_is_refused_naming_the_tensor(tmp_path):
    torch.export.save(torch.export.export(_BareScale(), (torch.randn(2, 3, 4),)), tmp_path / "bare.pt2")
    with pytest.raises(ImportFailure, match=r"uses its own tensor 'scale' directly .*no block holds a bare parameter"):
        import_source(str(tmp_path / "bare.pt2"))
