"""Narrow, LayerNorm2d and LayerScale against the torch and torchvision code they stand for, and the words
a person reads when their settings do not fit the input."""
from __future__ import annotations

import pytest
import torch
from torchvision.models.convnext import LayerNorm2d as TorchvisionLayerNorm2d

from layerloom.graph import REGISTRY, analyze, compile_graph
from layerloom.graph.importers.fx_import import import_module
from layerloom.graph.pruning import prune_channels

from .helpers import chain


def _compiled(kind, params, shape):
    doc = chain((kind, params), shape=shape)
    result = analyze(doc)
    assert result.ok, [d.text for d in result.errors]
    bid = next(b for b in doc.blocks if doc.blocks[b].kind == kind)
    return compile_graph(doc, seed=0).eval(), result.blocks[bid], bid


@pytest.mark.parametrize("dim, start, length, pieces, piece", [(1, 0, 3, 2, 0), (1, 3, 3, 2, 1), (-1, 4, 1, 5, 4),
                                                                 (2, -2, 2, 2, 1)])
def test_narrow_equals_torch_chunk_piece(dim, start, length, pieces, piece):
    model, result, _ = _compiled("Narrow", {"dim": dim, "start": start, "length": length}, (6, 4, 5))
    x = torch.randn(3, 6, 4, 5)
    expected = x.chunk(pieces, dim=dim)[piece]
    assert torch.equal(model(x), expected) and result.output_shape == tuple(expected.shape[1:])


def test_layer_norm_2d_equals_torchvisions_and_counts_a_scale_and_a_shift_per_channel():
    model, result, bid = _compiled("LayerNorm2d", {"eps": 1e-6}, (8, 3, 3))
    reference = TorchvisionLayerNorm2d(8, eps=1e-6)
    with torch.no_grad():
        reference.weight.normal_(), reference.bias.normal_()
    model.get_submodule(bid).load_state_dict(reference.state_dict())
    x = torch.randn(2, 8, 3, 3)
    assert torch.equal(model(x), reference(x))
    assert result.param_count == 16
    assert REGISTRY["LayerNorm2d"].worked_out(result.params, [(8, 3, 3)]).param_count == 16


def test_layer_scale_starts_at_init_value_and_multiplies_each_channel():
    model, result, bid = _compiled("LayerScale", {"init_value": 0.5}, (3, 2, 2))
    assert torch.equal(model.get_submodule(bid).weight, torch.full((3, 1, 1), 0.5))
    x = torch.randn(4, 3, 2, 2)
    assert torch.equal(model(x), 0.5 * x) and result.param_count == 3


@pytest.mark.parametrize("kind, params, shape, words", [
    ("Narrow", {"dim": 1, "start": 4, "length": 3}, (6, 4), "Narrow keeps 3 positions from position 4 of dim 1, "
     "but that dimension of a 6×4 sample has 6 positions (0 to 5): lower start or length so that start + length "
     "is at most 6."),
    ("Narrow", {"dim": -1, "start": -2, "length": 3}, (6, 4), "Narrow keeps 3 positions from position 2 of dim -1, "
     "but that dimension of a 6×4 sample has 4 positions (0 to 3): lower length to at most 2, or start further "
     "from the end."),
    ("Narrow", {"dim": 1, "start": -7, "length": 1}, (6, 4), "Narrow starts at -7, outside the positions of dim 1"),
    ("Narrow", {"dim": 3, "start": 0, "length": 1}, (6, 4),
     "Narrow: dim=3 is out of range. Dims count within one sample"),
    ("LayerNorm2d", {"normalized_shape": 16}, (8, 3, 3), "LayerNorm2d holds 16 channels but receives 8 channels "
     "(input 8×3×3): set normalized_shape to 8 or to \"auto\"."),
    ("LayerScale", {"num_channels": 1}, (8, 3, 3), "LayerScale holds 1 channel but receives 8 channels"),
])
def test_settings_that_do_not_fit_the_input_are_explained_in_words(kind, params, shape, words):
    doc = chain((kind, params), shape=shape)
    errors = analyze(doc).errors
    assert len(errors) == 1 and words in errors[0].message, errors
    if kind != "Narrow":
        assert errors[0].fix["value"] == "auto"


def test_labels_read_like_the_python_they_stand_for():
    narrow = REGISTRY["Narrow"]
    assert narrow.short_label(narrow.full_params({"start": 58, "length": 58})) == "dim 1 [58:116]"
    assert narrow.short_label(narrow.full_params({"start": -3, "length": 3})) == "dim 1 [-3:]"
    assert narrow.short_label(narrow.full_params({"start": -3, "length": 2})) == "dim 1 [-3:-1]"


def test_pruning_the_conv_before_a_layer_scale_keeps_the_scales_of_the_kept_channels():
    doc = chain(("Conv2d", {"out_channels": 6, "kernel_size": 1}), ("LayerScale", {}),
                ("Conv2d", {"out_channels": 2, "kernel_size": 1}), shape=(3, 4, 4))
    model = compile_graph(doc, seed=0).eval()
    with torch.no_grad():
        model.scale1.weight.copy_(torch.arange(1.0, 7.0).reshape(6, 1, 1))
    result = prune_channels(doc, model.state_dict(), ratio=0.5, blocks=["conv1"])
    kept = result.kept["conv1"]
    assert torch.equal(result.weights["scale1.weight"], model.scale1.weight[kept])
    assert result.doc.blocks["scale1"].params.get("num_channels", "auto") in (3, "auto")
    pruned = compile_graph(result.doc)
    pruned.load_state_dict(result.weights, strict=True)
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        hand = model.conv1(x)[:, kept] * model.scale1.weight[kept]
        expected = torch.nn.functional.conv2d(hand, model.conv2.weight[:, kept], model.conv2.bias)
        assert torch.allclose(pruned.eval()(x), expected, atol=1e-6)


def test_channel_shuffle_equals_shufflenets_and_says_which_groups_fit():
    from torchvision.models.shufflenetv2 import channel_shuffle
    model, result, _ = _compiled("ChannelShuffle", {"groups": 3}, (6, 2, 2))
    x = torch.randn(2, 6, 2, 2)
    assert torch.equal(model(x), channel_shuffle(x, 3))
    errors = analyze(chain(("ChannelShuffle", {"groups": 4}), shape=(6, 2, 2))).errors
    assert [d.message for d in errors] == ["ChannelShuffle deals 6 channels into 4 groups, but 6 is not a multiple "
                                           "of 4 (input 6×2×2): set groups to a number that divides 6."]
    assert errors[0].fix["value"] == 3


def test_torch_channel_shuffle_layers_and_calls_import_as_channel_shuffle_blocks():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 1)
            self.shuffle = torch.nn.ChannelShuffle(4)

        def forward(self, x):
            return torch.nn.functional.channel_shuffle(self.shuffle(self.conv(x)), 2)

    doc, _, report = import_module(Net().eval(), (3, 4, 4), "net", "Net")
    assert report.opaque == []
    assert sorted(b.params["groups"] for b in doc.blocks.values() if b.kind == "ChannelShuffle") == [2, 4]


def test_layer_scale_and_layer_norm_2d_labels_name_their_channels():
    """A LayerScale's factors are learned, so its label names its channels, not the value it started from."""
    scale, norm = REGISTRY["LayerScale"], REGISTRY["LayerNorm2d"]
    assert scale.short_label(scale.full_params({"num_channels": 96, "init_value": 0.5})) == "96 channels"
    assert norm.short_label(norm.full_params({"normalized_shape": 96})) == "96"
